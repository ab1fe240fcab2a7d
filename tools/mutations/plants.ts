/**
 * The faults `npm run test:mutations` plants, one at a time, on a scratch copy
 * of the tree. Each names the guarantee it breaks and the suites that must
 * fail because of it: a guarantee whose plant leaves its suites green is a
 * defect of the suites (docs/testing.md).
 *
 * A plant is an exact piece of source and its replacement; the piece must
 * occur exactly once, so a plant that no longer matches the code fails the
 * run instead of passing quietly.
 */
export interface Plant {
  name: string;
  /** The guarantee the fault breaks. */
  breaks: string;
  file: string;
  find: string;
  replace: string;
  /** Test files that must fail with the plant in. */
  suites: string[];
}

export const PLANTS: readonly Plant[] = [
  {
    name: 'lost-update-in-reservations',
    breaks: 'no oversell under any concurrency (stock is read under row locks, taken in one order, before it is written back)',
    file: 'src/modules/catalog/internal/stock.handlers.ts',
    find: `  const rows: Array<{ id: string; stock: number }> = await trx('products').select('id', 'stock').whereIn('id', ids).orderBy('id').forUpdate();`,
    // PLANTED: read the stock without locking it, then write back what was computed from it (a lost update).
    replace: `  const rows: Array<{ id: string; stock: number }> = await trx('products').select('id', 'stock').whereIn('id', ids).orderBy('id');`,
    suites: ['test/concurrency.postgres.test.ts'],
  },
  {
    name: 'inbox-duplicate-check-off',
    breaks: 'exactly-once effects: a redelivered event is recognised by the inbox and not handled again',
    file: 'src/kernel/events/event-consumer.ts',
    find: `      const fresh = new Set(inserted.map((row) => row.event_id));`,
    replace: `      const fresh = new Set(ids); // PLANTED: every delivery counts as new`,
    suites: ['test/crash.test.ts', 'test/redelivery.test.ts', 'test/bullmq-processes.test.ts'],
  },
  {
    name: 'inbox-insert-without-conflict-handling',
    breaks: 'a redelivery is a quiet no-op, not a duplicate-key failure that ends as a dead letter',
    file: 'src/kernel/events/event-consumer.ts',
    find: `        .onConflict(['event_id', 'handler'])
        .ignore()
        .returning<Array<{ event_id: string }>>('event_id');`,
    replace: `        .returning<Array<{ event_id: string }>>('event_id'); // PLANTED: no on-conflict clause`,
    suites: ['test/crash.test.ts', 'test/redelivery.test.ts'],
  },
  {
    name: 'relay-waits-on-retries',
    breaks: 'no head-of-line blocking: an event being retried never delays the events behind it',
    file: 'src/kernel/events/memory-transport.ts',
    find: `        if (retries.length > 0) pending.set(envelope.id, Promise.all(retries).then(() => undefined));`,
    replace: `        await Promise.all(retries); // PLANTED: the relay round waits for every retry`,
    suites: ['test/poison.test.ts'],
  },
  {
    name: 'event-never-marked-published',
    breaks: 'every outbox row is marked published once handed over (no endless redelivery, an honest backlog)',
    file: 'src/kernel/events/outbox-store.ts',
    find: `export async function markPublished(db: ModuleDb, seqs: ReadonlyArray<string | number>): Promise<void> {
  if (seqs.length === 0) return;`,
    replace: `export async function markPublished(db: ModuleDb, seqs: ReadonlyArray<string | number>): Promise<void> {
  if (seqs.length >= 0) return; // PLANTED: nothing is ever marked`,
    suites: ['test/saga.postgres.test.ts', 'test/saga.bullmq.test.ts'],
  },
  {
    name: 'admission-never-refuses',
    breaks: 'bounded lag: a route that starts work is refused (429 + Retry-After) while the work behind it lags',
    file: 'src/kernel/admission/admission-gate.ts',
    find: `    if (share === 0 || Math.random() >= share) return undefined;`,
    replace: `    if (share >= 0) return undefined; // PLANTED: never refuse`,
    suites: ['test/overload.test.ts'],
  },
  {
    name: 'events-routed-to-local-consumers-only',
    breaks: 'an event reaches every consumer in the system, including those of modules that run in another process (or have not started yet)',
    file: 'src/kernel/app/create-app.ts',
    find: `  const transport = await createTransport(config, retry, consumersOfSystem(modules, contracts), logger);`,
    replace: `  const transport = await createTransport(config, retry, consumers, logger); // PLANTED: only this process's consumers get events`,
    suites: ['test/split-failures.test.ts'],
  },
  {
    name: 'internal-calls-skip-the-module-graph',
    breaks: 'a caller whose module.json does not declare the dependency is refused (403)',
    file: 'src/kernel/remote/service-token.ts',
    find: `    if (!this.#dependsOn.get(caller)?.includes(audience)) {`,
    replace: `    if (this.#dependsOn.get(caller) === undefined) { // PLANTED: any known module may call any other`,
    suites: ['test/internal-endpoint.test.ts'],
  },
  {
    name: 'facade-bypasses-the-breaker',
    breaks: 'once a remote module fails repeatedly, its routes answer 503 at once instead of waiting for the timeout',
    file: 'src/kernel/remote/facade.ts',
    find: `    remote.breaker
      .execute(`,
    replace: `    ({ execute: (fn: () => Promise<void>) => fn() }) // PLANTED: no breaker
      .execute(`,
    suites: ['test/split-failures.test.ts', 'test/facade.test.ts'],
  },
  {
    name: 'every-remote-call-retried',
    breaks: 'only operations the contract marks idempotent are tried again after a failed remote call',
    file: 'src/kernel/remote/remote-module.ts',
    find: `      const policy = definition.idempotent ? this.#repeatable : this.#once;`,
    replace: `      const policy = this.#repeatable; // PLANTED: retry everything`,
    suites: ['test/remote-binding.test.ts'],
  },
  {
    name: 'facade-failures-not-counted',
    breaks: "a request the facade proxies while the breaker is closed counts against it when it gets no answer, as a call through breaker.execute would",
    file: 'src/kernel/remote/remote-module.ts',
    find: `    else this.breaker.execute(() => Promise.reject(error)).catch(() => undefined);`,
    replace: `    else void error; // PLANTED: a failure outside execute is not counted`,
    suites: ['test/facade.test.ts', 'test/split-failures.test.ts'],
  },
  {
    name: 'facade-counts-5xx-answers',
    breaks: "a module's outage never opens the breaker of another module whose routes answer 503 about it (the other modules keep working)",
    file: 'src/kernel/remote/facade.ts',
    find: `        pending.settle();
      },`,
    replace: `        pending.settle(proxyRes.statusCode! >= 500 ? new Error('5xx') : undefined); // PLANTED: a 5xx answer counts as a failure
      },`,
    suites: ['test/split-failures.test.ts'],
  },
  {
    name: 'breaker-ignores-recovery-probe',
    breaks: "a remote module's open breaker closes as soon as its service's /health answers again, not only REMOTE_BREAKER_HALF_OPEN_MS later (the 503 window of a move)",
    file: 'src/kernel/remote/remote-module.ts',
    find: `        wait.serviceBack();`,
    replace: `        void wait; // PLANTED: the probe's answer does not end the breaker's wait`,
    suites: ['test/remote-binding.test.ts'],
  },
  {
    name: 'health-hides-open-breaker',
    breaks: "/health reports each remote module's breaker as it is (closed, open, half-open), which npm run topology and operators read",
    file: 'src/kernel/app/create-app.ts',
    find: `    for (const [name, remote] of remotes) Object.assign(report.modules[name]!, { url: remote.url, breaker: remote.breakerState });`,
    replace: `    for (const [name, remote] of remotes) Object.assign(report.modules[name]!, { url: remote.url, breaker: 'closed' }); // PLANTED: the breaker always reads closed`,
    suites: ['test/topology.split.test.ts'],
  },
  {
    name: 'move-data-skips-verification',
    breaks: 'move-data marks the source moved only after every table in the target matched its row count and checksum',
    file: 'src/kernel/db/move-data.ts',
    find: `          if (got.rows !== want.rows || got.checksum !== want.checksum) {
            throw new AppError('INTERNAL', 'MOVE_DATA.VERIFY_FAILED',`,
    replace: `          if (false as boolean) { // PLANTED: no verification
            throw new AppError('INTERNAL', 'MOVE_DATA.VERIFY_FAILED',`,
    suites: ['test/move-data.test.ts'],
  },
  {
    name: 'move-data-marks-source-first',
    breaks: 'the source copy is never marked moved before the target committed and verified (an interrupted move leaves the source in use)',
    file: 'src/kernel/db/move-data.ts',
    find: `    if (!reports) {
      reports = [];`,
    replace: `    await source.query(\`create table if not exists "\${schema}"."\${MOVED_TABLE}" (moved_to text not null, moved_at timestamptz not null default now())\`); // PLANTED: marked before the copy
    if (!reports) {
      reports = [];`,
    suites: ['test/move-data.test.ts'],
  },
  {
    name: 'extract-keeps-stale-imports',
    breaks: 'extract-then-absorb gives back the original bytes (moved files get the shortest relative imports)',
    file: 'tools/extract/codemod.ts',
    find: `    if (oldPath === newPath ? targetOf(newPath, spec.text) === movedTarget : canonical === spec.text) continue;`,
    replace: `    if (targetOf(newPath, spec.text) === movedTarget) continue; // PLANTED: keep whatever still resolves`,
    suites: ['test/extract.test.ts'],
  },
  {
    name: 'upcast-not-applied',
    breaks: 'a consumer reads an event of another version at its own: older events (outboxes, queues, dead letters) are upcast, newer ones downcast, never handed over as they came',
    file: 'src/kernel/events/event-versions.ts',
    find: `  return convert(definition, envelope.payload, envelope.version, version);`,
    replace: `  return { ok: true, payload: envelope.payload }; // PLANTED: the payload as it came, never converted`,
    suites: ['src/kernel/events/event-versions.test.ts', 'test/event-versions.test.ts', 'test/event-versions.split.test.ts'],
  },
  {
    name: 'downcasts-not-attached',
    breaks: 'an event published at a newer version reaches a consumer that still reads an older one, whose build knows nothing of the newer (the relay attaches the downcast payloads)',
    file: 'src/kernel/events/outbox-relay.ts',
    find: `    return downcasts ? { ...envelope, downcasts } : envelope;`,
    replace: `    return envelope; // PLANTED: the older versions' payloads are computed but never sent`,
    suites: ['test/event-versions.test.ts', 'test/event-versions.split.test.ts'],
  },
  {
    name: 'events-routed-by-version',
    breaks: 'every version of an event reaches every consumer of its name, whichever version a build believes the consumer reads',
    file: 'src/kernel/events/bullmq-transport.ts',
    find: `      for (const handlerId of this.#routesByName.get(envelope.name) ?? []) {`,
    replace: `      for (const handlerId of this.#options.routes.get(\`\${envelope.name}@\${envelope.version}\`) ?? []) { // PLANTED: routed by name@version`,
    suites: ['test/event-versions.split.test.ts'],
  },
  {
    name: 'traceparent-not-sent-on-remote-calls',
    breaks: "one trace across processes: a remote API call carries its client span as traceparent, so the callee's span is its child",
    file: 'src/kernel/remote/remote-module.ts',
    find: `    if (span) headers.traceparent = span.traceparent;`,
    replace: `    // PLANTED: the client span is made but never sent`,
    suites: ['test/tracing.split.test.ts'],
  },
  {
    name: 'trace-context-not-stored-in-outbox',
    breaks: "one trace through the events: the publish span's traceparent is stored with the outbox row, so the relay and every handler continue the trace, later and in other processes",
    file: 'src/kernel/events/event-publisher.ts',
    find: `    for (const row of rows) row.trace_parent = span.traceparent;`,
    replace: `    // PLANTED: the span is made, the rows never carry it`,
    suites: ['test/tracing.split.test.ts'],
  },
  {
    name: 'proxied-request-keeps-callers-traceparent',
    breaks: "one trace through the facade: a proxied request carries the facade's client span as traceparent, not the header the caller sent",
    file: 'src/kernel/remote/facade.ts',
    find: `    req.headers.traceparent = span.traceparent;`,
    replace: `    // PLANTED: the service sees the caller's traceparent, and its span skips the gateway's`,
    suites: ['test/tracing.split.test.ts'],
  },
{
    name: 'drain-closes-at-once',
    breaks: 'no reset on SIGTERM: after the grace period the server takes what waits in the kernel (accept queue, unread requests) before it stops listening',
    file: 'src/kernel/http/server-drain.ts',
    find: `    await this.#untilQuiet(started + timeoutMs * ACCEPT_SHARE);`,
    replace: `    // PLANTED: close at once, as Node's server.close() alone does`,
    suites: ['test/rolling-restart.test.ts'],
  },
  {
    name: 'keep-alive-while-stopping',
    breaks: 'a stopping process answers with Connection: close, so keep-alive clients reconnect elsewhere instead of being cut',
    file: 'src/kernel/http/server-drain.ts',
    find: `      if (this.#closeConnections) res.shouldKeepAlive = false;`,
    replace: `      // PLANTED: connections stay keep-alive until they are closed under the client`,
    suites: ['test/rolling-restart.test.ts'],
  },
  {
    name: 'repeated-sigterm-exits-at-once',
    breaks: 'a SIGTERM that arrives twice (to the process group, relayed by npm or tsx) does not cut the drain',
    file: 'src/kernel/app/shutdown.ts',
    find: `      if (signal === 'SIGTERM') {`,
    replace: `      if (signal === 'SIGTERM' && false) { // PLANTED: any second signal exits at once`,
    suites: ['test/rolling-restart.test.ts'],
  },
  {
    name: 'idempotency-key-ignored',
    breaks: 'a retry with the same Idempotency-Key gets the first answer, not a second order',
    file: 'src/modules/orders/internal/orders.routes.ts',
    find: `service.placeOrder(body, context, headers['idempotency-key'])`,
    replace: `service.placeOrder(body, context) /* PLANTED: the key is validated, then dropped */`,
    suites: ['test/idempotency.test.ts'],
  },
  {
    name: 'idempotency-key-reused-for-another-body',
    breaks: 'the same Idempotency-Key with another request is a 422, never the first answer for a different order',
    file: 'src/modules/orders/internal/order-service.ts',
    find: `  if (stored.requestHash !== hash) {`,
    replace: `  if (stored.requestHash !== hash && hash === '') { // PLANTED: the request is not compared`,
    suites: ['test/idempotency.test.ts'],
  },
  {
    name: 'idempotency-key-claimed-by-upsert',
    breaks: 'concurrent requests with one Idempotency-Key store one order (the second waits on the key row and replays)',
    file: 'src/modules/orders/internal/idempotency-repository.ts',
    find: `    .onConflict(['customer_id', 'key'])
    .ignore()`,
    replace: `    .onConflict(['customer_id', 'key'])
    .merge() // PLANTED: a concurrent request overwrites the key and stores its own order`,
    suites: ['test/idempotency.test.ts'],
  },
  {
    name: 'idempotency-key-dropped-by-facade',
    breaks: 'the Idempotency-Key reaches the orders service through the facade of a process that does not run orders',
    file: 'src/kernel/remote/facade.ts',
    find: `const HOP_BY_HOP = ['connection', 'keep-alive',`,
    replace: `const HOP_BY_HOP = ['idempotency-key', 'connection', 'keep-alive', // PLANTED: dropped as if hop-by-hop
 `,
    suites: ['test/idempotency.test.ts'],
  },
  {
    name: 'idempotency-keys-kept-for-ever',
    breaks: 'a module hands the retention purger tables of its own: idempotency keys go after EVENT_RETENTION_HOURS',
    file: 'src/kernel/app/create-app.ts',
    find: `            tables: module.retention,`,
    replace: `            // PLANTED: the module's own tables are never purged`,
    suites: ['test/idempotency.test.ts'],
  },
{
    name: 'facade-keeps-alive-while-stopping',
    breaks: "a stopping gateway's proxied answers close their connections too (the proxy would say keep-alive)",
    file: 'src/kernel/remote/facade.ts',
    find: `        if (!res.shouldKeepAlive) proxyRes.headers.connection = 'close';`,
    replace: `        // PLANTED: the proxy's keep-alive wins over a connection that must close`,
    suites: ['test/stopping-gateway.test.ts'],
  },
];

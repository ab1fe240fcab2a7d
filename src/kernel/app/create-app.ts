import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import type { Container } from 'inversify';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Database } from '../db/module-db.js';
import { migrateModule, type MigrationResult } from '../db/migrator.js';
import { noDatabase } from '../db/no-database.js';
import type { EventConsumer, EventTransport } from '../events/envelope.js';
import { DEFAULT_RETRY, MemoryTransport, type RetryOptions } from '../events/memory-transport.js';
import { OutboxRelay, type OutboxRelayOptions } from '../events/outbox-relay.js';
import { outboxBacklog, outboxLag } from '../events/outbox-store.js';
import { RetentionPurger, type RetentionPurgerOptions } from '../events/retention.js';
import { AdmissionGate } from '../admission/admission-gate.js';
import { LagMonitor, type LagReading, type LagSource } from '../admission/lag-monitor.js';
import { checkHealth } from '../health/health.js';
import { createMetrics, type Metrics } from '../health/metrics.js';
import { errorHandler, notFoundHandler } from '../http/error-handler.js';
import { mountRoutes } from '../http/mount-routes.js';
import { sendJson } from '../http/send-json.js';
import { ServerDrain } from '../http/server-drain.js';
import { requestStateOf, responseRecorder } from '../http/request-context.js';
import { createLogger } from '../logging/logger.js';
import type { ApiBinding } from '../module/api-binding.js';
import type { ModuleContract } from '../module/contract.js';
import type { ModuleDefinition } from '../module/define-module.js';
import { HEALTH_PROBE_HEADER, RemoteModule } from '../remote/remote-module.js';
import { ServiceTokenIssuer } from '../remote/service-token.js';
import { readTopologyFile, resolveTopology, type Topology } from '../topology/resolve-topology.js';
import { startTracing, type Tracing } from '../tracing/tracing.js';
import { frontHandler } from './front-handler.js';
import { openDatabase } from './open-database.js';
import { consumersOfSystem, wireModules, type WiredModule } from './wire-modules.js';

export interface AppOptions {
  /**
   * The modules whose code this codebase holds, as listed by the composition
   * root. Which of them run in this process is the topology's choice
   * (`MODULES`, the topology file); the others are reached at their
   * `SERVICE_URL_<MODULE>`.
   */
  modules: readonly ModuleDefinition<any>[];
  /**
   * The committed topology file of the app (relative to `rootDir`), such as
   * `topology.json`; `TOPOLOGY_FILE` overrides it. None: every module runs here
   * unless `MODULES` says otherwise.
   */
  topologyFile?: string;
  /** The contracts of the system's other modules, whose code lives elsewhere (an extracted service): always remote. */
  contracts?: readonly ModuleContract<any>[];
  config: Config;
  logger?: Logger;
  /** Per-module API binding; `localBinding` when absent. */
  apiBindings?: Record<string, ApiBinding>;
  /** Retry policy of event handlers; attempts default to `EVENT_MAX_ATTEMPTS`. */
  retry?: Partial<RetryOptions>;
  relay?: Pick<OutboxRelayOptions, 'batchSize' | 'pollMs' | 'leaseMs'>;
  /** How often and in what batches old events are purged (`EVENT_RETENTION_HOURS` says how old); every 5 minutes, 1,000 rows a statement by default. */
  retention?: Pick<RetentionPurgerOptions, 'intervalMs' | 'batchSize'>;
  /** Where `migrations/<module>/` lives; the working directory by default. */
  rootDir?: string;
  /** An opened database to use instead of the one the config names. */
  database?: Database;
  /**
   * The app's name, such as `shop`: the OpenTelemetry service name of a
   * process that runs every module of the app, unless `OTEL_SERVICE_NAME`
   * says otherwise. A process that runs only some is named after them
   * (`payments`, `catalog+orders`), a pure gateway `<name>-gateway`.
   */
  name?: string;
}

/** A running (or ready to run) process of the kit. */
export interface App {
  readonly container: Container;
  readonly database: Database;
  readonly http: Express;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly transport: EventTransport;
  /**
   * The event consumers of this process's modules, as wired (the transport's
   * subscribers). Lets a tool such as the dead-letter replay run a handler
   * without starting anything.
   */
  readonly consumers: readonly EventConsumer[];
  /** Where every module of the system runs, seen from this process. */
  readonly topology: Topology;
  /** The modules that run elsewhere, with their breakers. */
  readonly remotes: ReadonlyMap<string, RemoteModule>;
  /** Runs every module's migrations; results, not exceptions. */
  migrate(): Promise<MigrationResult[]>;
  /** Migrates, starts the relays and listens on `config.port` (0 picks a free port). */
  start(): Promise<{ port: number; url: string }>;
  /**
   * Graceful stop: for `graceMs` (0 by default) the process goes on serving
   * while `/health` answers 503 `stopping`, every answer with
   * `Connection: close`; then it serves what clients already sent (connections
   * the kernel accepted, requests not read yet), stops listening, and the
   * requests in flight finish (for at most `drainMs`, `SHUTDOWN_DRAIN_MS` by
   * default, then their connections are closed); relays finish their round,
   * pools close.
   */
  stop(options?: { graceMs?: number; drainMs?: number }): Promise<void>;
  /** True once `stop` was called. */
  readonly stopping: boolean;
  /** The process's tracing, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. */
  readonly tracing: Tracing | undefined;
}

/**
 * Builds one process of the kit from its modules and settings.
 *
 * @example
 * const app = await createApp({ modules: [catalogModule, ordersModule], config: loadConfig(process.env) });
 * const { url } = await app.start();
 */
export async function createApp(options: AppOptions): Promise<App> {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const rootDir = options.rootDir ?? process.cwd();
  const contracts: ModuleContract<any>[] = [...options.modules, ...(options.contracts ?? [])];
  const topologyFile = readTopologyFile(rootDir, config.topologyFile, options.topologyFile);
  const topology = resolveTopology({ contracts, implemented: new Set(options.modules.map((m) => m.name)), config, file: topologyFile.file, filePath: topologyFile.path });
  const localModules = options.modules.filter((m) => topology.local.includes(m.name));
  // Loads the OpenTelemetry SDK only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
  const tracing = await startTracing({ endpoint: config.otelEndpoint, serviceName: config.otelServiceName ?? serviceNameOf(options.name, localModules.map((m) => m.name), contracts.length), logger });
  const remotes = new Map<string, RemoteModule>();
  if (topology.remote.size > 0) {
    const tokens = new ServiceTokenIssuer(config.serviceTokenSecret!);
    for (const [name, url] of topology.remote) {
      const contract = contracts.find((c) => c.name === name)!;
      remotes.set(name, new RemoteModule({ contract, url, timeoutMs: config.remoteTimeoutMs, halfOpenAfterMs: config.remoteBreakerHalfOpenMs, recoveryProbeMs: config.remoteRecoveryProbeMs, tokens, metrics, logger, tracing }));
    }
  }
  // A pure gateway stores nothing: it opens no database (and takes no PGlite folder from a monolith beside it).
  const database = options.database ?? (topology.local.length === 0 ? noDatabase() : await openDatabase(config, logger));
  const retry: RetryOptions = { ...DEFAULT_RETRY, maxAttempts: config.eventMaxAttempts, ...options.retry };
  // Test-only; the module is not even loaded unless MMK_FAULT_POINTS is set (never in production, see loadConfig).
  const faults = config.faultPoints ? (await import('../testing/fault-points.js')).parseFaultPoints(config.faultPoints) : undefined;
  const { container, modules, apis } = wireModules({
    modules: localModules,
    contracts,
    remotes,
    database,
    logger,
    apiBindings: options.apiBindings ?? {},
    onHandled: (handler, outcome) => metrics.eventsHandled.inc({ handler, outcome }),
    handlerConcurrency: config.eventHandlerConcurrency,
    faults,
    tracing,
  });
  const consumers = modules.flatMap((m) => m.consumers);
  const transport = await createTransport(config, retry, consumersOfSystem(modules, contracts), logger);
  for (const consumer of consumers) transport.subscribe(consumer);

  const relays = modules.map((module) => {
    const relay = new OutboxRelay({
      db: database.forModule(module.definition.name),
      transport,
      logger,
      leaseMs: config.eventClaimLeaseMs,
      pollMs: config.eventRelayPollMs,
      resetClaimsOnStart: database.kind === 'pglite',
      ...options.relay,
      onPublished: (count) => metrics.eventsPublished.inc({ module: module.definition.name }, count),
      events: module.definition.events,
      tracing,
    });
    if (config.eventRelay === 'on') module.nudge = () => relay.nudge();
    return relay;
  });

  // Published events and inbox records past the retention, per module (docs/operations.md, "Retention").
  const purgers =
    config.eventRetentionHours > 0
      ? modules.map((module) => {
          const name = module.definition.name;
          return new RetentionPurger({
            db: database.forModule(name),
            logger,
            retentionMs: config.eventRetentionHours * 3_600_000,
            tables: module.retention,
            ...options.retention,
            onPurged: (table, count) => metrics.eventsPurged.inc({ module: name, table }, count),
          });
        })
      : [];

  const monitor = createLagMonitor(config, modules, consumers, transport, database, logger, metrics);
  const gate = new AdmissionGate(monitor, { maxLagMs: config.admissionMaxLagMs, enabled: config.admissionControl });
  const lifecycle = { stopping: false };
  const http = buildHttp({ modules, database, transport, logger, metrics, lifecycle, gate, monitor, remotes });
  const handle = frontHandler({ http, remotes, apis, contracts, config, metrics, logger, tracing });
  let server: Server | undefined;
  let drain: ServerDrain | undefined;

  const app: App = {
    container,
    database,
    http,
    logger,
    metrics,
    transport,
    consumers,
    topology,
    remotes,
    tracing,
    async migrate() {
      const results: MigrationResult[] = [];
      for (const { definition } of modules) {
        const dir = definition.migrationsDir === false ? null : resolve(rootDir, definition.migrationsDir ?? `migrations/${definition.name}`);
        results.push(await migrateModule(database, definition.name, dir));
      }
      return results;
    },
    async start() {
      const failed = (await app.migrate()).find((r) => r.error);
      if (failed?.error) throw failed.error;
      await transport.start();
      if (config.eventRelay === 'on') relays.forEach((relay) => relay.start());
      monitor.start();
      purgers.forEach((purger) => purger.start());
      server = createServer(handle);
      drain = new ServerDrain(server);
      await new Promise<void>((ready, fail) => {
        server!.once('error', fail);
        server!.listen(config.port, ready);
      });
      const { port } = server.address() as AddressInfo;
      logger.info(
        { port, database: database.kind, eventBus: transport.name, modules: modules.map((m) => m.definition.name), remote: Object.fromEntries(topology.remote) },
        'started',
      );
      return { port, url: `http://127.0.0.1:${port}` };
    },
    get stopping() {
      return lifecycle.stopping;
    },
    async stop(stopOptions = {}) {
      lifecycle.stopping = true;
      if (server && drain) {
        // Out of rotation (/health 503) yet serving, and each answer closes its connection so keep-alive clients move on.
        drain.closeAfterEachAnswer();
        if (stopOptions.graceMs) await new Promise((done) => setTimeout(done, stopOptions.graceMs));
        // In-flight requests get a while to finish; one that never does (a client or service that hangs) must not keep the process alive.
        const drainMs = stopOptions.drainMs ?? config.shutdownDrainMs;
        if (!(await drain.close(drainMs))) logger.warn({ drainTimeoutMs: drainMs }, 'requests still in flight at shutdown: closed their connections');
        server = undefined;
      }
      await monitor.stop();
      await Promise.all(purgers.map((purger) => purger.stop()));
      await Promise.all(relays.map((relay) => relay.stop()));
      await transport.close();
      await Promise.all([...remotes.values()].map((remote) => remote.close()));
      await database.close();
      // Last: the spans of everything above are exported before the process exits.
      await tracing?.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'exporting the last spans failed'));
      logger.info('stopped');
    },
  };
  return app;
}

/** The default OpenTelemetry service name: the app's name when this process runs all its modules, else the modules it runs. */
function serviceNameOf(appName: string | undefined, local: readonly string[], modules: number): string {
  if (local.length === 0) return `${appName ?? 'mmk'}-gateway`;
  return local.length === modules && appName !== undefined ? appName : local.join('+');
}

interface HttpParts {
  lifecycle: { stopping: boolean };
  gate: AdmissionGate;
  monitor: LagMonitor;
  modules: WiredModule[];
  database: Database;
  transport: EventTransport;
  logger: Logger;
  metrics: Metrics;
  remotes: ReadonlyMap<string, RemoteModule>;
}

function buildHttp({ modules, database, transport, logger, metrics, lifecycle, gate, monitor, remotes }: HttpParts): Express {
  const http = express();
  http.disable('x-powered-by');
  http.set('etag', false);
  // `/products/` is not `/products`: one URL per resource, as the module routers had it.
  http.set('strict routing', true);
  const recorder = responseRecorder({ logger, metrics });
  const healthMetric = recorder.route('GET', '/health');
  const metricsMetric = recorder.route('GET', '/metrics');
  const admission = { refusal: () => gate.refusal(), onShed: (route: string) => metrics.requestsShed.inc({ route }) };
  for (const module of modules) mountRoutes(http, `/api/${module.definition.name}`, module.routes, recorder, admission);
  // After the module routes, which take nearly all requests: each layer before a route costs it a match.
  http.get('/health', async (req, res) => {
    requestStateOf(req, res);
    if (lifecycle.stopping) {
      // Out of rotation first: the process still serves until its grace period ends.
      sendJson(res, 503, { status: 'stopping', modules: {}, services: {} });
      recorder.record(req, res, healthMetric);
      return;
    }
    // Asked by another process's probe: this process alone, so that services never probe each other in circles.
    const shallow = req.headers[HEALTH_PROBE_HEADER] !== undefined;
    const report = await checkHealth(
      database.kind === 'none' ? { eventBus: () => transport.ping() } : { database: () => database.ping(), eventBus: () => transport.ping() },
      Object.fromEntries([
        ...modules.map((m) => {
          const db = database.forModule(m.definition.name);
          return [m.definition.name, { location: 'local' as const, probes: { database: () => db.query('select 1').then(() => undefined) } }] as const;
        }),
        ...[...remotes].map(
          ([name, remote]) => [name, { location: 'remote' as const, probes: { service: shallow ? async () => remote.assertReachable() : () => remote.probe() } }] as const,
        ),
      ]),
      (probe, error) => logger.warn({ err: error, probe }, 'health probe failed'),
    );
    const localDown = Object.values(report.services).includes('down') || Object.values(report.modules).some((m) => m.location === 'local' && m.status === 'down');
    for (const [name, remote] of remotes) Object.assign(report.modules[name]!, { url: remote.url, breaker: remote.breakerState });
    const remoteDown = [...remotes.keys()].some((name) => report.modules[name]!.status === 'down');
    // Shedding is not being down: the process serves, it only refuses new work for a while.
    const shedding = gate.shedding;
    // A module down elsewhere degrades this process but does not take it out of rotation: its other modules serve.
    const status = localDown ? 'down' : remoteDown || shedding ? 'degraded' : 'up';
    // Whether the broker survives a restart with its events: a warning, never a change of status (docs/events.md).
    const durability = transport.durability?.();
    const body = { ...report, status, admission: { shedding, lagMs: monitor.lagMs, maxLagMs: gate.maxLagMs }, ...(durability ? { redis: durability } : {}) };
    sendJson(res, localDown ? 503 : 200, body);
    recorder.record(req, res, healthMetric);
  });
  http.get('/metrics', async (req, res) => {
    requestStateOf(req, res);
    await Promise.all(
      modules.map(async (m) => {
        const module = m.definition.name;
        try {
          const backlog = await outboxBacklog(database.forModule(module));
          metrics.outboxPending.set({ module }, backlog.pending);
        } catch (error) {
          // No figure rather than a stale one: an old value would look like a healthy outbox.
          metrics.outboxPending.remove({ module });
          logger.warn({ err: error, module }, 'reading the outbox backlog for /metrics failed');
        }
      }),
    );
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    recorder.record(req, res, metricsMetric);
  });
  http.use(notFoundHandler(recorder));
  http.use(errorHandler(logger, recorder));
  return http;
}

/**
 * The transport `EVENT_BUS` names; BullMQ routes each event to every handler
 * that consumes it. BullMQ and ioredis are loaded only when configured: a
 * process on the memory bus does not carry their 7 MB of heap, which every
 * garbage collection would walk (docs/benchmarks.md).
 */
async function createTransport(config: Config, retry: RetryOptions, consumers: ReadonlyArray<{ handlerId: string; eventKey: string }>, logger: Logger): Promise<EventTransport> {
  if (config.eventBus === 'memory') return new MemoryTransport(retry);
  const routes = new Map<string, string[]>();
  for (const consumer of consumers) routes.set(consumer.eventKey, [...(routes.get(consumer.eventKey) ?? []), consumer.handlerId]);
  const { BullMqTransport } = await import('../events/bullmq-transport.js');
  return new BullMqTransport({
    redisUrl: config.redisUrl,
    prefix: config.eventQueuePrefix,
    routes,
    retry,
    logger,
    concurrency: config.eventWorkerConcurrency,
    lockDurationMs: config.eventLockMs,
    requirePersistence: config.redisPersistenceRequired,
  });
}

/**
 * The lag monitor of this process: its modules' outboxes, its handlers'
 * lanes, the broker's queues and (on BullMQ) the readings of the other
 * processes. Every sample also updates the lag metrics.
 */
function createLagMonitor(
  config: Config,
  modules: readonly WiredModule[],
  consumers: readonly EventConsumer[],
  transport: EventTransport,
  database: Database,
  logger: Logger,
  metrics: Metrics,
): LagMonitor {
  const sources: LagSource[] = [
    ...modules.map((m): LagSource => {
      const db = database.forModule(m.definition.name);
      return async () => [{ kind: 'outbox', name: m.definition.name, lagMs: await outboxLag(db) }];
    }),
    () => consumers.map((c): LagReading => ({ kind: 'handler', name: c.handlerId, lagMs: c.lagMs() })),
  ];
  if (transport.queueLag) sources.push(() => transport.queueLag!());
  return new LagMonitor({
    sources,
    exchange: transport.exchangeLag ? (local) => transport.exchangeLag!(local) : undefined,
    sampleMs: config.admissionSampleMs,
    logger,
    onSample(readings, lagMs) {
      // Several processes may report the same stage (a shared outbox, a shared queue): keep the worst.
      const worst = { outbox: new Map<string, number>(), handler: new Map<string, number>() };
      for (const r of readings) worst[r.kind].set(r.name, Math.max(worst[r.kind].get(r.name) ?? 0, r.lagMs));
      for (const [module, ms] of worst.outbox) metrics.outboxLag.set({ module }, ms / 1000);
      for (const [handler, ms] of worst.handler) metrics.handlerLag.set({ handler }, ms / 1000);
      metrics.eventLag.set(lagMs / 1000);
    },
  });
}

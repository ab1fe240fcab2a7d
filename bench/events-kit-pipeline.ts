/**
 * The kit's pipeline for `npm run bench:events`: createApp with one `bench`
 * module that publishes `bench.Tick` and handles it with a no-op handler
 * (which still runs in a transaction with its inbox insert). The producer
 * writes through the module's own context, as a module's service would.
 */
import { z } from 'zod';
import { consumes, createApp, defineEvent, defineModule, loadConfig, on, type ModuleContext } from '../src/kernel/index.js';
import type { EventsJob } from './events-job.js';
import type { OpenPipeline, Produce, Recorder } from './events-phases.js';

const Tick = defineEvent('bench.Tick', 1, z.object({ n: z.number().int() }));
const TickIn = consumes('bench.Tick', 1, z.object({ n: z.number().int() }));

function benchModule(recorder: Recorder, onContext: (ctx: ModuleContext) => void) {
  return defineModule({
    name: 'bench',
    events: [Tick],
    dependsOn: [],
    migrationsDir: false,
    setup: (ctx) => {
      onContext(ctx);
      return {
        handlers: [
          on(TickIn, 'noop', async (_payload, { trx, envelope }) => {
            // Handled = the inbox transaction committed.
            trx.executionPromise.then(
              () => recorder.handled(envelope.id),
              () => undefined,
            );
          }),
        ],
      };
    },
  });
}

/** The kit's pipeline on `bus`, with the job's kitEnv (NODE_ENV, pool size, …) and the job's relay and retry settings. */
export function kitPipeline(job: EventsJob, recorder: Recorder, bus: 'bullmq' | 'memory'): OpenPipeline {
  let n = 0;
  return async ({ relay }) => {
    const config = loadConfig({
      ...job.kitEnv,
      PORT: '0',
      DATABASE_URL: job.databaseUrl,
      EVENT_BUS: bus,
      REDIS_URL: job.redisUrl,
      EVENT_QUEUE_PREFIX: job.keyPrefix,
      EVENT_RELAY: relay ? 'on' : 'off',
      // The bench's Redis keeps nothing on disk; production mode refuses that unless accepted.
      REDIS_VOLATILE_OK: 'true',
    });
    let ctx: ModuleContext | undefined;
    const app = await createApp({
      modules: [benchModule(recorder, (c) => (ctx = c))],
      config,
      relay: { batchSize: job.delivery.relayBatch, pollMs: job.delivery.relayPollMs, leaseMs: job.delivery.relayLeaseMs },
      retry: { maxAttempts: job.delivery.maxAttempts, baseDelayMs: job.delivery.retryBaseDelayMs },
    });
    await app.start();
    const module = ctx!;
    const produce: Produce = (size) =>
      module.db.transaction(async (trx) => {
        if (!job.publishOneByOne) return module.events.publishMany(trx, Tick, Array.from({ length: size }, () => ({ n: n++ })));
        const ids: string[] = [];
        for (let i = 0; i < size; i += 1) ids.push(await module.events.publish(trx, Tick, { n: n++ }));
        return ids;
      });
    return { produce, close: () => app.stop() };
  };
}

import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { consumes, createApp, createLogger, defineEvent, defineModule, loadConfig, on, type App, type ModuleContext } from '../src/kernel/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

// How one process runs a handler's transactions: several at once (lanes, one
// per correlation id), the events of one correlation id in order, a handler's
// own `concurrency` honoured, and failures logged with what identifies them.

const Step = defineEvent('flow.Step', 1, z.object({ flow: z.string(), n: z.number().int(), fail: z.boolean().optional() }));
const StepIn = consumes('flow.Step', 1, Step.schema);

interface Probe {
  inFlight: number;
  maxInFlight: number;
  seen: Map<string, number[]>;
}

const probes = { lanes: newProbe(), serial: newProbe() };

function newProbe(): Probe {
  return { inFlight: 0, maxInFlight: 0, seen: new Map() };
}

function recorder(probe: Probe) {
  return async ({ flow, n, fail }: z.output<typeof Step.schema>) => {
    if (fail) throw new Error(`step ${flow}/${n} fails on purpose`);
    probe.inFlight += 1;
    probe.maxInFlight = Math.max(probe.maxInFlight, probe.inFlight);
    try {
      // Long enough for the other lanes' transactions to start meanwhile.
      await sleep(20);
      probe.seen.set(flow, [...(probe.seen.get(flow) ?? []), n]);
    } finally {
      probe.inFlight -= 1;
    }
  };
}

let publish: ModuleContext | undefined;
const flowModule = defineModule({
  name: 'flow',
  events: [Step],
  dependsOn: [],
  migrationsDir: false,
  setup: (ctx) => {
    publish = ctx;
    return {
      handlers: [on(StepIn, 'lanes', recorder(probes.lanes)), on(StepIn, 'serial', recorder(probes.serial), { concurrency: 1 })],
    };
  },
});

describe('event handling in one process (PostgreSQL, memory bus)', () => {
  let database: TestDatabase;
  let app: App;
  const lines: Array<Record<string, unknown>> = [];
  beforeAll(async () => {
    database = await createTestDatabase('mmk_handling');
    const config = loadConfig({ PORT: '0', DATABASE_URL: database.url, EVENT_MAX_ATTEMPTS: '2', EVENT_HANDLER_CONCURRENCY: '4' });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    app = await createApp({ modules: [flowModule], config, logger: createLogger('info', sink), retry: { baseDelayMs: 10, maxDelayMs: 20 } });
    await app.start();
  });
  afterAll(async () => {
    await app?.stop();
    await database?.drop();
  });

  /** Each flow's steps are published one commit after the other, under the flow's own correlation id. */
  async function runFlows(flows: string[], steps: number): Promise<void> {
    const ctx = publish!;
    await Promise.all(
      flows.map(async (flow) => {
        for (let n = 0; n < steps; n += 1) {
          await ctx.db.transaction((trx) => ctx.events.publish(trx, Step, { flow, n }).then(() => undefined), { correlationId: `corr-${flow}` });
        }
      }),
    );
  }

  it('runs transactions of different correlation ids at once, and keeps each correlation id in order', async () => {
    const flows = Array.from({ length: 12 }, (_, i) => `f${i}`);
    await runFlows(flows, 6);
    await expect.poll(() => [...probes.lanes.seen.values()].reduce((n, s) => n + s.length, 0), { timeout: 20_000 }).toBe(72);
    expect(probes.lanes.maxInFlight).toBeGreaterThan(1);
    expect(probes.lanes.maxInFlight).toBeLessThanOrEqual(4);
    for (const flow of flows) expect(probes.lanes.seen.get(flow), `steps of ${flow}`).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('runs a handler that asks for concurrency 1 one transaction at a time', async () => {
    await expect.poll(() => [...probes.serial.seen.values()].reduce((n, s) => n + s.length, 0), { timeout: 20_000 }).toBe(72);
    expect(probes.serial.maxInFlight).toBe(1);
  });

  it('logs a failed attempt and a dead letter with the handler, the event and its correlation id', async () => {
    const ctx = publish!;
    const eventId = await ctx.db.transaction((trx) => ctx.events.publish(trx, Step, { flow: 'broken', n: 0, fail: true }), { correlationId: 'corr-broken' });
    await expect.poll(() => lines.filter((l) => l.msg === 'event dead-lettered' && l.eventId === eventId).length, { timeout: 10_000 }).toBe(2);
    const failures = lines.filter((l) => l.msg === 'event handler failed' && l.eventId === eventId);
    // Two handlers, two attempts each.
    expect(failures).toHaveLength(4);
    for (const line of failures) {
      expect(line).toMatchObject({ level: 40, correlationId: 'corr-broken', event: 'flow.Step', module: 'flow' });
      expect(['flow.lanes', 'flow.serial']).toContain(line.handler);
      expect((line.err as { message: string }).message).toBe('step broken/0 fails on purpose');
    }
    // Counted once the dead letter is stored, a moment after it is logged.
    await expect.poll(() => app.metrics.registry.getSingleMetricAsString('events_handled_total')).toMatch(/events_handled_total\{handler="flow.lanes",outcome="dead_lettered"\} 1/);
    expect(await app.metrics.registry.getSingleMetricAsString('events_handled_total')).toMatch(/events_handled_total\{handler="flow.lanes",outcome="failed"\} 2/);
  });
});

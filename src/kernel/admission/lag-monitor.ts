import type { Logger } from 'pino';

/** How far behind one stage of the event flow is. */
export interface LagReading {
  /** `outbox` (events waiting to be relayed) or `handler` (events waiting for a handler). */
  kind: 'outbox' | 'handler';
  /** The module (outbox) or the handler id (`<module>.<handler>`). */
  name: string;
  /** Age of the oldest event still waiting there, in ms; 0 when nothing waits. */
  lagMs: number;
}

/** Something that can say how far behind it is: an outbox, a handler's lanes, a broker's queues. */
export type LagSource = () => Promise<readonly LagReading[]> | readonly LagReading[];

/**
 * Shares this process's readings with the other processes of the system and
 * returns theirs (see ADR 0009). Absent on the memory bus, where one process
 * is the whole system.
 */
export type LagExchange = (local: readonly LagReading[]) => Promise<readonly LagReading[]>;

export interface LagMonitorOptions {
  /** The stages this process can measure itself. */
  sources: readonly LagSource[];
  exchange?: LagExchange;
  /** How often the sources are read. */
  sampleMs: number;
  logger: Logger;
  /** Called with every sample (metrics). */
  onSample?: (readings: readonly LagReading[], lagMs: number) => void;
}

/**
 * Samples how far behind the event flow is, every `sampleMs`: the age of the
 * oldest event waiting in each outbox and for each handler, here and (through
 * the exchange) in the other processes. `lagMs` is the worst of them: the
 * signal admission control acts on. Events being retried after a failure are
 * not waiting and do not count, so one poison event cannot make the API shed.
 *
 * @example
 * const monitor = new LagMonitor({ sources, sampleMs: 250, logger });
 * monitor.start();
 * monitor.lagMs; // e.g. 340
 */
export class LagMonitor {
  readonly #options: LagMonitorOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lagMs = 0;
  #readings: readonly LagReading[] = [];
  #failing = false;

  constructor(options: LagMonitorOptions) {
    this.#options = options;
  }

  /** The worst lag of the last sample, in ms. */
  get lagMs(): number {
    return this.#lagMs;
  }

  /** Every reading of the last sample, this process's and the others'. */
  get readings(): readonly LagReading[] {
    return this.#readings;
  }

  start(): void {
    if (this.#timer) return;
    const tick = () => {
      this.#running = this.sample().finally(() => {
        if (this.#timer) this.#timer = setTimeout(tick, this.#options.sampleMs);
      });
    };
    this.#timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One sample now; a source that fails is logged (once until it recovers) and left out. */
  async sample(): Promise<void> {
    const { sources, exchange, logger } = this.#options;
    const results = await Promise.allSettled(sources.map(async (source) => source()));
    const local = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    let readings: readonly LagReading[] = local;
    const failures: unknown[] = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    if (exchange) {
      try {
        readings = [...local, ...(await exchange(local))];
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0 && !this.#failing) logger.warn({ err: failures[0], failures: failures.length }, 'measuring the event lag failed; the readings that failed are left out');
    this.#failing = failures.length > 0;
    this.#readings = readings;
    this.#lagMs = readings.reduce((worst, r) => Math.max(worst, r.lagMs), 0);
    this.#options.onSample?.(readings, this.#lagMs);
  }
}

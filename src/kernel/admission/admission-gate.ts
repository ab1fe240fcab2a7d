import type { LagMonitor } from './lag-monitor.js';

export interface AdmissionGateOptions {
  /** Above this lag every request that starts work is refused; from half of it on, a growing share is. */
  maxLagMs: number;
  /** `false` measures and reports the lag but never refuses. */
  enabled: boolean;
}

/**
 * Decides whether a request that starts asynchronous work is taken now. It
 * refuses a share of them that grows linearly from 0 at half the bound to all
 * at the bound, so the accepted rate eases down to what the event flow
 * settles instead of swinging between all and nothing. Reads never come here.
 *
 * @example
 * const retryAfter = gate.refusal();
 * if (retryAfter !== undefined) return res.status(429).set('retry-after', String(retryAfter));
 */
export class AdmissionGate {
  readonly #monitor: Pick<LagMonitor, 'lagMs'>;
  readonly #options: AdmissionGateOptions;

  constructor(monitor: Pick<LagMonitor, 'lagMs'>, options: AdmissionGateOptions) {
    this.#monitor = monitor;
    this.#options = options;
  }

  get maxLagMs(): number {
    return this.#options.maxLagMs;
  }

  /** The share of work-starting requests refused right now, 0 to 1. */
  get refusedShare(): number {
    if (!this.#options.enabled) return 0;
    const half = this.#options.maxLagMs / 2;
    return Math.min(1, Math.max(0, (this.#monitor.lagMs - half) / half));
  }

  /** True while some requests are refused: `/health` says `degraded`. */
  get shedding(): boolean {
    return this.refusedShare > 0;
  }

  /** Undefined to take the request; else the seconds the client should wait (`Retry-After`). */
  refusal(): number | undefined {
    const share = this.refusedShare;
    if (share === 0 || Math.random() >= share) return undefined;
    // About when the oldest waiting event will have gone through at the current pace.
    return Math.max(1, Math.ceil(this.#monitor.lagMs / 1000));
  }
}

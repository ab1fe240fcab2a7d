import { performance } from 'node:perf_hooks';
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  ConstantBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleAll,
  handleWhen,
  retry,
  timeout,
  wrap,
  type CircuitBreakerPolicy,
  type IBackoff,
  type IHalfOpenAfterBackoffContext,
  type IPolicy,
} from 'cockatiel';
import type { Logger } from 'pino';
import { Pool } from 'undici';
import { AppError } from '../errors/app-error.js';
import { HEALTH_PROBE_HEADER } from '../health/health.js';
import type { Metrics } from '../health/metrics.js';
import type { CallContext } from '../context/call-context.js';
import { parseOrThrow } from '../module/api-binding.js';
import type { ModuleContract } from '../module/contract.js';
import type { Tracing } from '../tracing/tracing.js';
import type { ServiceTokenIssuer } from './service-token.js';

export { HEALTH_PROBE_HEADER } from '../health/health.js';

/** Consecutive failures or timeouts after which a remote module's breaker opens. */
export const BREAKER_THRESHOLD = 5;
/** Keep-alive connections to one remote module's service. */
const POOL_CONNECTIONS = 32;

export type BreakerState = 'closed' | 'open' | 'half-open';

const STATES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};

export interface RemoteModuleOptions {
  contract: ModuleContract;
  url: string;
  timeoutMs: number;
  halfOpenAfterMs: number;
  /**
   * While the breaker is open, ask the service's `/health` this often; once it answers 200 the breaker lets its
   * trial call through at once instead of waiting out `halfOpenAfterMs`. 0 or absent: no probe.
   */
  recoveryProbeMs?: number;
  tokens: ServiceTokenIssuer;
  metrics: Metrics;
  logger: Logger;
  /** Present when tracing is on: each call is a client span, sent as `traceparent`. */
  tracing?: Tracing | undefined;
}

/**
 * How long an open breaker refuses every call: `halfOpenAfterMs`, or no longer
 * once a recovery probe saw the service answer (cockatiel reads `duration` at
 * every call while the breaker is open). A new wait starts each time the
 * breaker opens, a failed trial included.
 */
class OpenWait implements IBackoff<IHalfOpenAfterBackoffContext> {
  #serviceBack = false;
  constructor(
    readonly maxMs: number,
    private readonly started: (wait: OpenWait) => void,
  ) {}

  get duration(): number {
    return this.#serviceBack ? 0 : this.maxMs;
  }

  serviceBack(): void {
    this.#serviceBack = true;
  }

  next(): OpenWait {
    const wait = new OpenWait(this.maxMs, this.started);
    this.started(wait);
    return wait;
  }
}

const isOpen = (state: CircuitState) => state === CircuitState.Open || state === CircuitState.Isolated;

const isConnectionFailure = (error: Error) => !(error instanceof BrokenCircuitError) && !(error instanceof TaskCancelledError) && error.name !== 'AbortError';

/**
 * A module that runs in another process, seen from this one: a keep-alive
 * connection pool (undici) to its service and one circuit breaker
 * (cockatiel) that its API client and its facade share. The breaker opens
 * after 5 consecutive calls that got no answer (no connection, or none
 * within the timeout; any HTTP answer counts as a success). While it is
 * open, a recovery probe asks the service's `/health` every
 * `recoveryProbeMs`; as soon as it answers 200, or `halfOpenAfterMs` after
 * the breaker opened if it never does, one trial call goes through, and the
 * breaker closes again if that succeeds (ADR 0012).
 *
 * @example
 * const catalog = new RemoteModule({ contract: catalogContract, url: 'http://127.0.0.1:4001', timeoutMs: 2000, halfOpenAfterMs: 5000, tokens, metrics, logger });
 * const product = await catalog.call('orders', 'getProduct', { id }, context);
 */
export class RemoteModule {
  readonly name: string;
  readonly url: string;
  readonly timeoutMs: number;
  readonly breaker: CircuitBreakerPolicy;
  readonly #contract: ModuleContract;
  readonly #pool: Pool;
  readonly #tokens: ServiceTokenIssuer;
  readonly #metrics: Metrics;
  readonly #once: IPolicy;
  readonly #repeatable: IPolicy;
  readonly #recoveryProbeMs: number;
  readonly #tracing: Tracing | undefined;
  /** The breaker's counting of consecutive failures (cockatiel's), also fed by `recordOutcome`. */
  readonly #consecutive = new ConsecutiveBreaker(BREAKER_THRESHOLD);
  /** The wait of the breaker's current (or last) opening. */
  #wait: OpenWait | undefined;
  #recoveryTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RemoteModuleOptions) {
    this.name = options.contract.name;
    this.url = options.url;
    this.timeoutMs = options.timeoutMs;
    this.#contract = options.contract;
    this.#tokens = options.tokens;
    this.#metrics = options.metrics;
    this.#pool = new Pool(options.url, { connections: POOL_CONNECTIONS, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
    this.#recoveryProbeMs = options.recoveryProbeMs ?? 0;
    this.#tracing = options.tracing;
    const firstWait = new OpenWait(options.halfOpenAfterMs, (wait) => (this.#wait = wait));
    this.breaker = circuitBreaker(handleAll, { halfOpenAfter: { next: () => firstWait.next() }, breaker: this.#consecutive });
    this.breaker.onBreak(() => this.#scheduleRecoveryProbe());
    // abortOnReturn off: the answer is read before the call returns, and aborting every finished call costs a
    // DOMException with its stack (about 5 µs a call, docs/benchmarks.md).
    const deadline = timeout(options.timeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });
    this.#once = wrap(deadline, this.breaker);
    // Safe to repeat: a call that got no answer is tried once more (within the same deadline).
    // cockatiel's `maxAttempts` counts the retries, not the attempts: 1 means two attempts in all.
    this.#repeatable = wrap(deadline, retry(handleWhen(isConnectionFailure), { maxAttempts: 1, backoff: new ConstantBackoff(20) }), this.breaker);
    const metrics = options.metrics;
    metrics.remoteBreaker.set({ module: this.name }, 0);
    this.breaker.onStateChange((state) => {
      metrics.remoteBreaker.set({ module: this.name }, state === CircuitState.Closed ? 0 : state === CircuitState.HalfOpen ? 2 : 1);
      options.logger.warn({ module: this.name, url: this.url, breaker: STATES[state] }, `circuit breaker of remote module ${this.name} is ${STATES[state]}`);
    });
  }

  get breakerState(): BreakerState {
    return STATES[this.breaker.state];
  }

  /** The error a caller gets when this module cannot be reached. */
  unavailable(reason: string, cause?: unknown): AppError {
    return new AppError('UNAVAILABLE', `${this.name.toUpperCase()}.UNAVAILABLE`, `module ${this.name} is unavailable: ${reason}`, { cause });
  }

  /**
   * Calls an API operation at `POST /internal/<module>/<operation>` on behalf
   * of `caller`. The input and output are validated here too; an error the
   * service answers crosses with its status and code.
   */
  async call(caller: string, operation: string, input: unknown, context: CallContext | undefined): Promise<unknown> {
    const api = this.#contract.api;
    const definition = api?.operations[operation];
    if (!api || !definition) throw new AppError('INTERNAL', 'KERNEL.UNKNOWN_OPERATION', `${this.name} has no operation ${operation}`);
    const body = JSON.stringify(parseOrThrow(api, operation, 'input', input) ?? null);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      authorization: `Bearer ${await this.#tokens.tokenFor(caller, this.name)}`,
    };
    if (context) headers['x-request-id'] = context.correlationId;
    const path = `/internal/${this.name}/${operation}`;
    const span = this.#tracing?.startSpan(`${this.name}.${operation}`, 'client', context?.traceparent, { 'rpc.service': this.name, 'rpc.method': operation, 'server.address': this.url });
    if (span) headers.traceparent = span.traceparent;
    const started = performance.now();
    let outcome = 'ok';
    try {
      const policy = definition.idempotent ? this.#repeatable : this.#once;
      const answer = await policy.execute(async ({ signal }) => {
        const response = await this.#pool.request({ path, method: 'POST', headers, body, signal });
        // Any answer counts as a success for the breaker: the service is there. A 5xx may be about a
        // module the service itself calls, which must not open this module's breaker.
        return { status: response.statusCode, text: await response.body.text() };
      });
      if (answer.status !== 200) {
        outcome = answer.status >= 500 ? 'failed' : 'error';
        throw this.#answeredError(operation, answer.status, parseJson(answer.text));
      }
      outcome = 'invalid';
      const output = parseOrThrow(api, operation, 'output', parseJson(answer.text));
      outcome = 'ok';
      return output;
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (error instanceof BrokenCircuitError) {
        outcome = 'open';
        throw this.unavailable('its circuit breaker is open after repeated failures', error);
      }
      if (error instanceof TaskCancelledError) {
        outcome = 'timeout';
        throw this.unavailable(`no answer within ${this.timeoutMs} ms (REMOTE_TIMEOUT_MS)`, error);
      }
      outcome = 'unavailable';
      throw this.unavailable((error as Error).message, error);
    } finally {
      this.#metrics.remoteCalls.observe({ module: this.name, operation, outcome }, (performance.now() - started) / 1000);
      if (span) {
        span.setAttribute('mmk.outcome', outcome);
        span.end(outcome === 'ok' || outcome === 'error' ? undefined : outcome);
      }
    }
  }

  /**
   * Asks the service's `/health` whether it is up (without its own remote
   * probes, so that two services never probe each other in a loop). The
   * probe goes through the breaker: while it is open the answer is at once
   * "down" (a health check never waits on a frozen service), and once it may
   * half-open the probe is its trial call, so a module that nobody calls is
   * still seen coming back.
   */
  async probe(): Promise<void> {
    const status = await this.breaker.execute(() => this.#healthStatus());
    if (status !== 200) throw new Error(`${this.url}/health answered ${status}`);
  }

  /**
   * One round of the recovery probe while the breaker is open: a `/health`
   * that answers 200 ends the breaker's wait, and the probe itself then runs
   * as the trial call (so the breaker closes even if no call comes). A
   * frozen service costs one pending request at a time, never more.
   */
  #scheduleRecoveryProbe(): void {
    if (this.#recoveryProbeMs === 0 || this.#recoveryTimer || this.#closed) return;
    this.#recoveryTimer = setTimeout(async () => {
      this.#recoveryTimer = undefined;
      const wait = this.#wait;
      if (this.#closed || !isOpen(this.breaker.state) || !wait) return;
      if (await this.#answersHealth()) {
        wait.serviceBack();
        // The trial: through the breaker, which closes on its success or opens again (and this probe restarts).
        await this.probe().catch(() => undefined);
      } else {
        this.#scheduleRecoveryProbe();
      }
    }, this.#recoveryProbeMs);
    this.#recoveryTimer.unref();
  }

  /** Whether the service's own `/health` answers 200 within the call timeout (outside the breaker). */
  async #answersHealth(): Promise<boolean> {
    return (await this.#healthStatus().catch(() => 0)) === 200;
  }

  /** The status of the service's own `/health` (no remote probes of its own), within the call timeout. */
  async #healthStatus(): Promise<number> {
    const response = await this.#pool.request({
      path: '/health',
      method: 'GET',
      headers: { [HEALTH_PROBE_HEADER]: '1' },
      // The same limit as a call: a probe through the breaker that times out counts against it like a call would.
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    await response.body.dump();
    return response.statusCode;
  }

  /**
   * Counts the outcome of a call made while the breaker was closed without
   * going through `breaker.execute` (the facade's hot path), exactly as
   * `execute` counts it in that state: an answer resets the count of
   * consecutive failures; a failure is run through the breaker, which counts
   * it and opens at the threshold (if it is still closed then).
   */
  recordOutcome(error?: Error): void {
    if (error === undefined) this.#consecutive.success();
    else this.breaker.execute(() => Promise.reject(error)).catch(() => undefined);
  }

  /** Fails at once while the breaker is open: the state of the module as far as this process knows without asking. */
  assertReachable(): void {
    if (this.breaker.state === CircuitState.Open || this.breaker.state === CircuitState.Isolated) throw this.unavailable('its circuit breaker is open');
  }

  /**
   * The error of an answer other than 200. The operation's own errors (a
   * 404 or 409 of the callee) cross with their status and code. A refusal of
   * the call itself (401, 403: tokens or the module graph; 404 from the
   * kernel: the URL serves no such module) is this deployment's fault, not
   * the client's: it becomes a 500 whose cause is logged, never a 401 to a
   * public client.
   */
  #answeredError(operation: string, status: number, body: unknown): AppError {
    const received = AppError.fromBody(body, status);
    if (status === 401 || status === 403 || received.code === 'KERNEL.NOT_FOUND' || received.code === 'KERNEL.BAD_ERROR_BODY') {
      // The message reaches the public client: it names no URL and no reason; the logged cause has both.
      const cause = new Error(`${this.url} refused the call ${this.name}.${operation}: ${status} ${received.code}: ${received.message}`, { cause: received });
      return new AppError('INTERNAL', 'KERNEL.REMOTE_CALL_REFUSED', `a call to module ${this.name} was refused (the logs say why)`, { cause });
    }
    return received;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#recoveryTimer);
    await this.#pool.close();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

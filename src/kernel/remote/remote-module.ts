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
  type IPolicy,
} from 'cockatiel';
import type { Logger } from 'pino';
import { Pool } from 'undici';
import { AppError } from '../errors/app-error.js';
import type { Metrics } from '../health/metrics.js';
import type { CallContext } from '../context/call-context.js';
import type { ModuleContract } from '../module/contract.js';
import type { ServiceTokenIssuer } from './service-token.js';

/** Sent by a health probe of another process: answer for this process alone, without probing the remote modules. */
export const HEALTH_PROBE_HEADER = 'x-mmk-health-probe';

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

/** A 5xx answer of the remote service: counts against its breaker, and crosses to the caller as its error body. */
export class RemoteFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`remote service answered ${status}`);
  }
}

export interface RemoteModuleOptions {
  contract: ModuleContract;
  url: string;
  timeoutMs: number;
  halfOpenAfterMs: number;
  tokens: ServiceTokenIssuer;
  metrics: Metrics;
  logger: Logger;
}

const isConnectionFailure = (error: Error) => !(error instanceof RemoteFailure) && !(error instanceof BrokenCircuitError) && !(error instanceof TaskCancelledError) && error.name !== 'AbortError';

/**
 * A module that runs in another process, seen from this one: a keep-alive
 * connection pool (undici) to its service and one circuit breaker
 * (cockatiel) that its API client and its facade share. The breaker opens
 * after 5 consecutive failures (no connection, no answer within the timeout,
 * a 5xx answer); `halfOpenAfterMs` later it lets one trial call through, and
 * closes again if that succeeds (ADR 0012).
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

  constructor(options: RemoteModuleOptions) {
    this.name = options.contract.name;
    this.url = options.url;
    this.timeoutMs = options.timeoutMs;
    this.#contract = options.contract;
    this.#tokens = options.tokens;
    this.#metrics = options.metrics;
    this.#pool = new Pool(options.url, { connections: POOL_CONNECTIONS, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
    this.breaker = circuitBreaker(handleAll, { halfOpenAfter: options.halfOpenAfterMs, breaker: new ConsecutiveBreaker(BREAKER_THRESHOLD) });
    const deadline = timeout(options.timeoutMs, TimeoutStrategy.Aggressive);
    this.#once = wrap(deadline, this.breaker);
    // Safe to repeat: a call that got no answer is tried again (within the same deadline).
    this.#repeatable = wrap(deadline, retry(handleWhen(isConnectionFailure), { maxAttempts: 2, backoff: new ConstantBackoff(20) }), this.breaker);
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
    const definition = this.#contract.api?.operations[operation];
    if (!definition) throw new AppError('INTERNAL', 'KERNEL.UNKNOWN_OPERATION', `${this.name} has no operation ${operation}`);
    const parsedInput = definition.input.safeParse(input);
    if (!parsedInput.success) {
      throw new AppError('BAD_REQUEST', `${this.name.toUpperCase()}.INVALID_INPUT`, `${this.name}.${operation}: invalid input`, { details: parsedInput.error.issues });
    }
    const body = JSON.stringify(parsedInput.data ?? null);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      authorization: `Bearer ${await this.#tokens.tokenFor(caller, this.name)}`,
    };
    if (context) headers['x-request-id'] = context.correlationId;
    const path = `/internal/${this.name}/${operation}`;
    const started = performance.now();
    let outcome = 'ok';
    try {
      const policy = definition.idempotent ? this.#repeatable : this.#once;
      const answer = await policy.execute(async ({ signal }) => {
        const response = await this.#pool.request({ path, method: 'POST', headers, body, signal });
        const text = await response.body.text();
        if (response.statusCode >= 500) throw new RemoteFailure(response.statusCode, text);
        return { status: response.statusCode, text };
      });
      if (answer.status !== 200) {
        outcome = 'error';
        throw AppError.fromBody(parseJson(answer.text), answer.status);
      }
      const output = definition.output.safeParse(parseJson(answer.text));
      if (!output.success) {
        outcome = 'invalid';
        throw new AppError('INTERNAL', `${this.name.toUpperCase()}.INVALID_OUTPUT`, `${this.name}.${operation}: invalid output`, { details: output.error.issues });
      }
      return output.data;
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (error instanceof RemoteFailure) {
        outcome = 'failed';
        throw AppError.fromBody(parseJson(error.body), error.status);
      }
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
    }
  }

  /**
   * Asks the service's `/health` whether it is up (without its own remote
   * probes, so that two services never probe each other in a loop). Not
   * counted by the breaker.
   */
  async probe(): Promise<void> {
    const response = await this.#pool.request({
      path: '/health',
      method: 'GET',
      headers: { [HEALTH_PROBE_HEADER]: '1' },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    await response.body.dump();
    if (response.statusCode !== 200) throw new Error(`${this.url}/health answered ${response.statusCode}`);
  }

  async close(): Promise<void> {
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

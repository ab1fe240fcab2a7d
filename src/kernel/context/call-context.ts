/**
 * What the kit carries along one HTTP request or one event delivery, passed
 * explicitly: the route handler gets it as `context`, hands it to the API
 * calls and the transaction it starts, and every event that transaction
 * publishes carries its correlation id.
 *
 * Explicit rather than AsyncLocalStorage: on Node 20 an active
 * AsyncLocalStorage puts a hook on every promise of the process, which cost
 * about a fifth of the throughput of a module route (docs/benchmarks.md).
 *
 * @example
 * handler: async ({ body, context }) => ({ status: 202, body: await service.placeOrder(body, context) })
 * // in the service:
 * await db.transaction(async (trx) => { ... await events.publish(trx, OrderPlaced, payload); }, context);
 */
export interface CallContext {
  /** The request id of the HTTP request that started the work (or of the event being handled). */
  readonly correlationId: string;
  /**
   * The W3C `traceparent` of the span the work runs in, when tracing is on
   * (`OTEL_EXPORTER_OTLP_ENDPOINT`): the parent of the remote calls it makes
   * and of the events it publishes. Absent otherwise.
   */
  readonly traceparent?: string;
}

const byTransaction = new WeakMap<object, CallContext>();

/** Ties `context` to a transaction the kernel opened, for the publisher to read. */
export function bindCallContext(trx: object, context: CallContext | undefined): void {
  if (context) byTransaction.set(trx, context);
}

/** The context the transaction was opened with, if any. */
export function callContextOf(trx: object): CallContext | undefined {
  return byTransaction.get(trx);
}

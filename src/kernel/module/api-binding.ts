import { AppError } from '../errors/app-error.js';
import type { CallContext } from '../context/call-context.js';
import type { ApiContract, ApiOf } from './contract.js';

/**
 * Turns a module's implementation into what callers get behind the API token.
 * The kernel picks one per module from the topology; callers never know which.
 */
export type ApiBinding = <C extends ApiContract>(contract: C, implementation: ApiOf<C>) => ApiOf<C>;

/** One function per operation of the contract, each a named function that forwards to `call`. */
export function bindEach<C extends ApiContract>(
  contract: C,
  call: (name: string, input: unknown, context: CallContext | undefined) => Promise<unknown>,
): ApiOf<C> {
  const api: Record<string, (input: unknown, context?: CallContext) => Promise<unknown>> = {};
  for (const name of Object.keys(contract.operations)) {
    // A named inner function keeps the operation name in stack traces.
    api[name] = { [name]: (input: unknown, context?: CallContext) => call(name, input, context) }[name]!;
  }
  return api as ApiOf<C>;
}

/** The value as the contract's schema reads it, or the module's `INVALID_INPUT` (400) / `INVALID_OUTPUT` (500) error. */
export function parseOrThrow(contract: ApiContract, name: string, side: 'input' | 'output', value: unknown): unknown {
  const result = contract.operations[name]![side].safeParse(value);
  if (result.success) return result.data;
  const kind = side === 'input' ? 'BAD_REQUEST' : 'INTERNAL';
  throw new AppError(kind, `${contract.module.toUpperCase()}.INVALID_${side.toUpperCase()}`, `${contract.module}.${name}: invalid ${side}`, {
    details: result.error.issues,
  });
}

/**
 * In-process binding: validates the input with the contract, then calls the
 * implementation directly.
 *
 * @example
 * container.bind(catalogApi.token).toConstantValue(localBinding(catalogApi, implementation));
 */
export const localBinding: ApiBinding = (contract, implementation) =>
  bindEach(contract, async (name, input, context) => {
    const operation = (implementation as Record<string, (i: unknown, c?: CallContext) => Promise<unknown>>)[name]!;
    return operation(parseOrThrow(contract, name, 'input', input), context);
  });

/**
 * A binding that behaves like a remote call without the network: the input
 * crosses as JSON and is validated where the implementation runs, the output
 * crosses as JSON and is validated where the caller is; errors cross as the
 * JSON error body with their status. It proves a module works behind a serializing client.
 *
 * @example
 * createApp({ modules, apiBindings: { catalog: jsonBinding } });
 */
export const jsonBinding: ApiBinding = (contract, implementation) =>
  bindEach(contract, async (name, input, context) => {
    const operation = (implementation as Record<string, (i: unknown, c?: CallContext) => Promise<unknown>>)[name]!;
    let responseText: string;
    try {
      const received = parseOrThrow(contract, name, 'input', JSON.parse(JSON.stringify(input ?? null)));
      // The context crosses as JSON too (a remote client sends it as the x-request-id header).
      const receivedContext = context && (JSON.parse(JSON.stringify(context)) as CallContext);
      responseText = JSON.stringify((await operation(received, receivedContext)) ?? null);
    } catch (error) {
      const appError = AppError.from(error);
      throw AppError.fromBody(JSON.parse(JSON.stringify(appError.toBody())), appError.status);
    }
    return parseOrThrow(contract, name, 'output', JSON.parse(responseText));
  });

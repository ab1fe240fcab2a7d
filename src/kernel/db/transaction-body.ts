import { bindCallContext, type CallContext } from '../context/call-context.js';

/** Work a kernel transaction runs after its body, just before it commits, by transaction. */
const beforeCommit = new WeakMap<object, Array<() => Promise<void>>>();

/**
 * The body of a transaction the kernel opened (`ModuleDb.transaction`): binds
 * the caller's context, runs `fn`, then the work registered with
 * `onBeforeCommit` (the publisher's buffered outbox rows), all before the
 * commit. If anything throws, the transaction rolls back with all of it.
 *
 * @example
 * knex.transaction((trx) => runTransactionBody(trx, context, fn));
 */
export async function runTransactionBody<T, X extends object>(trx: X, context: CallContext | undefined, fn: (trx: X) => Promise<T>): Promise<T> {
  bindCallContext(trx, context);
  const hooks: Array<() => Promise<void>> = [];
  beforeCommit.set(trx, hooks);
  try {
    const result = await fn(trx);
    // By index: a hook may register another one.
    for (let i = 0; i < hooks.length; i += 1) await hooks[i]!();
    return result;
  } finally {
    beforeCommit.delete(trx);
  }
}

/**
 * Runs `hook` just before `trx` commits. False when `trx` is not the body of
 * a kernel transaction (a nested savepoint, or a transaction already past its
 * body): the caller must then do the work at once.
 */
export function onBeforeCommit(trx: object, hook: () => Promise<void>): boolean {
  const hooks = beforeCommit.get(trx);
  if (!hooks) return false;
  hooks.push(hook);
  return true;
}

import { bindEach } from '../module/api-binding.js';
import type { ApiContract, ApiOf } from '../module/contract.js';
import type { RemoteModule } from './remote-module.js';

/**
 * The API of a module that runs in another process, as `caller` sees it:
 * the same interface as the local binding, each call a
 * `POST /internal/<module>/<operation>` through the module's pool and breaker.
 *
 * @example
 * const catalog = remoteBinding(catalogApi, remoteCatalog, 'orders');
 * const priced = await catalog.priceItems({ items }, context);
 */
export function remoteBinding<C extends ApiContract>(contract: C, remote: RemoteModule, caller: string): ApiOf<C> {
  return bindEach(contract, (operation, input, context) => remote.call(caller, operation, input, context));
}

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Metrics } from '../health/metrics.js';
import type { ApiContract, ModuleContract } from '../module/contract.js';
import { createFacade } from '../remote/facade.js';
import { internalEndpoint } from '../remote/internal-endpoint.js';
import type { RemoteModule } from '../remote/remote-module.js';
import { ServiceTokenVerifier } from '../remote/service-token.js';

export interface FrontOptions {
  http: Express;
  remotes: ReadonlyMap<string, RemoteModule>;
  apis: ReadonlyMap<string, { contract: ApiContract; implementation: any }>;
  contracts: readonly ModuleContract<any>[];
  config: Pick<Config, 'serviceTokenSecret'>;
  metrics: Metrics;
  logger: Logger;
}

/** The module a `/api/<module>...` URL addresses, or undefined. */
function moduleOfApiUrl(url: string): string | undefined {
  if (!url.startsWith('/api/')) return undefined;
  let end = 5;
  while (end < url.length && url[end] !== '/' && url[end] !== '?') end += 1;
  return url.slice(5, end);
}

/**
 * The process's request handler: the kit's own traffic is taken before
 * Express. `/internal/...` goes to the internal API endpoint, the routes of a
 * module that runs elsewhere to its facade (proxy), everything else to the
 * Express app. The facade never sees `/internal/`: internal calls are not
 * proxied from process to process.
 */
export function frontHandler(options: FrontOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { http, remotes, apis, contracts, config, metrics, logger } = options;
  const internal = internalEndpoint({
    apis,
    known: new Set(contracts.map((c) => c.name)),
    verifier: new ServiceTokenVerifier(config.serviceTokenSecret, new Map(contracts.map((c) => [c.name, c.dependsOn]))),
    metrics,
    logger,
  });
  const processId = randomBytes(6).toString('hex');
  const facades = new Map([...remotes].map(([name, remote]) => [name, createFacade({ remote, processId, metrics, logger })]));
  return function front(req, res) {
    const url = req.url ?? '/';
    if (url.startsWith('/internal/')) return internal(req, res);
    if (facades.size > 0) {
      const module = moduleOfApiUrl(url);
      const facade = module === undefined ? undefined : facades.get(module);
      if (facade) return facade(req, res);
    }
    http(req, res);
  };
}

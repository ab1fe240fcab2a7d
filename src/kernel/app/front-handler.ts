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
import { traceRequest } from '../tracing/trace-request.js';
import type { Tracing } from '../tracing/tracing.js';

export interface FrontOptions {
  http: Express;
  remotes: ReadonlyMap<string, RemoteModule>;
  apis: ReadonlyMap<string, { contract: ApiContract; implementation: any }>;
  contracts: readonly ModuleContract<any>[];
  config: Pick<Config, 'serviceTokenSecret'>;
  metrics: Metrics;
  logger: Logger;
  /** Present when tracing is on: every request gets a server span. */
  tracing?: Tracing;
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
  const { http, remotes, apis, contracts, config, metrics, logger, tracing } = options;
  const internal = internalEndpoint({
    apis,
    known: new Set(contracts.map((c) => c.name)),
    verifier: new ServiceTokenVerifier(config.serviceTokenSecret, new Map(contracts.map((c) => [c.name, c.dependsOn]))),
    metrics,
    logger,
  });
  const processId = randomBytes(6).toString('hex');
  const facades = new Map([...remotes].map(([name, remote]) => [name, createFacade({ remote, processId, metrics, logger, tracing })]));
  function front(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    if (url.startsWith('/internal/')) return internal(req, res);
    if (facades.size > 0) {
      const module = moduleOfApiUrl(url);
      const facade = module === undefined ? undefined : facades.get(module);
      if (facade) return facade(req, res);
    }
    http(req, res);
  }
  if (!tracing) return front;
  // Tracing on: the same dispatch behind a server span per request (a separate function, so the untraced path has no check at all).
  return function tracedFront(req, res) {
    const url = req.url ?? '/';
    // Probes and scrapes every few seconds would bury the traces of real work.
    if (url.startsWith('/health') || url.startsWith('/metrics')) return front(req, res);
    traceRequest(tracing, req, res, url.startsWith('/internal/') ? url.split('?', 1)[0]! : () => routeOf(url, res));
    front(req, res);
  };
}

/** The route pattern an answer was made for: the Express route that took it, a proxied module's prefix, or `unmatched`. */
function routeOf(url: string, res: ServerResponse): string {
  const state = (res as ServerResponse & { locals?: { mmkRequest?: { route?: string } } }).locals?.mmkRequest;
  if (state?.route) return state.route;
  const module = moduleOfApiUrl(url);
  return module === undefined ? 'unmatched' : `/api/${module}/*`;
}

import { z } from 'zod';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The default settings, see PRODUCT.md. */
export const DEFAULT_PORT = 3000;
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_DATA_DIR = '.data';
/** A week: far beyond any automatic redelivery, and long enough to republish after a problem found after a long weekend (docs/operations.md). */
export const DEFAULT_EVENT_RETENTION_HOURS = 168;
const MAX_RETENTION_HOURS = 87_600;
const RETENTION_MESSAGE = `expected a whole number of hours from 1 to ${MAX_RETENTION_HOURS}, or 0 or "off" to keep every event`;

const integer = (min: number, max: number) =>
  z.string().regex(/^\d+$/, `expected an integer between ${min} and ${max}`).transform(Number)
    .pipe(z.number().int().min(min, `expected an integer between ${min} and ${max}`).max(max, `expected an integer between ${min} and ${max}`));

const url = (protocols: string[]) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

const schema = z.object({
  PORT: integer(0, 65535).default(DEFAULT_PORT),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  DATA_DIR: z.string().min(1).default(DEFAULT_DATA_DIR),
  EVENT_BUS: z.enum(['memory', 'bullmq'], { error: 'expected "memory" or "bullmq"' }).default('memory'),
  REDIS_URL: url(['redis:', 'rediss:']).default(DEFAULT_REDIS_URL),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  DATABASE_POOL_MAX: integer(1, 100).default(5),
  EVENT_RELAY: z.enum(['on', 'off'], { error: 'expected "on" or "off"' }).default('on'),
  EVENT_MAX_ATTEMPTS: integer(1, 100).default(5),
  EVENT_CLAIM_LEASE_MS: integer(1_000, 3_600_000).default(10_000),
  DATABASE_MODULE_ROLES: z.enum(['on', 'off'], { error: 'expected "on" or "off"' }).default('on'),
  EVENT_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, 'expected 1 to 40 letters, digits, _ or -').default('mmk'),
  EVENT_WORKER_CONCURRENCY: integer(1, 1_000).default(16),
  EVENT_LOCK_MS: integer(1_000, 3_600_000).default(30_000),
  EVENT_RELAY_POLL_MS: integer(10, 600_000).default(1_000),
  EVENT_RETENTION_HOURS: z
    .string()
    .regex(/^(off|\d+)$/, RETENTION_MESSAGE)
    .transform((v) => (v === 'off' ? 0 : Number(v)))
    .pipe(z.number().int().max(MAX_RETENTION_HOURS, RETENTION_MESSAGE))
    .default(DEFAULT_EVENT_RETENTION_HOURS),
  DATABASE_NESTING_CHECK: z.enum(['on', 'off'], { error: 'expected "on" or "off"' }).optional(),
  EVENT_HANDLER_CONCURRENCY: integer(1, 64).default(4),
  SHUTDOWN_GRACE_MS: integer(0, 600_000).default(5_000),
  SHUTDOWN_DRAIN_MS: integer(0, 600_000).default(10_000),
  ADMISSION_CONTROL: z.enum(['on', 'off'], { error: 'expected "on" or "off"' }).default('on'),
  ADMISSION_MAX_LAG_MS: integer(100, 600_000).default(2_000),
  ADMISSION_SAMPLE_MS: integer(20, 10_000).default(200),
  MODULES: z.string().regex(/^(none|[a-z][a-z0-9_]*(,[a-z][a-z0-9_]*)*)$/, 'expected "none" or module names separated by commas, such as "catalog,orders"').optional(),
  SERVICE_TOKEN_SECRET: z.string().min(32, 'expected at least 32 characters (use a random string, the same in every process)').optional(),
  REMOTE_TIMEOUT_MS: integer(10, 600_000).default(2_000),
  REMOTE_BREAKER_HALF_OPEN_MS: integer(100, 600_000).default(5_000),
  REMOTE_RECOVERY_PROBE_MS: integer(0, 600_000).default(250),
  TOPOLOGY_FILE: z.string().min(1).optional(),
  MMK_FAULT_POINTS: z.string().optional(),
  NODE_ENV: z.string().optional(),
  REDIS_VOLATILE_OK: z.enum(['true', 'false'], { error: 'expected "true" or "false"' }).default('false'),
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http:', 'https:']).optional(),
  OTEL_SERVICE_NAME: z.string().max(255, 'expected at most 255 characters').optional(),
});

/** Settings of one process, read from the environment at start. */
export interface Config {
  port: number;
  /** PostgreSQL connection string; undefined means embedded PGlite under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  eventBus: 'memory' | 'bullmq';
  redisUrl: string;
  logLevel: (typeof LOG_LEVELS)[number];
  databasePoolMax: number;
  /** `off` runs a process that serves HTTP and handles no outbox (events wait for another process). */
  eventRelay: 'on' | 'off';
  eventMaxAttempts: number;
  /** How long a relay's claim on outbox rows lasts unless renewed; the wait before another process takes over after a crash. */
  eventClaimLeaseMs: number;
  /** On PostgreSQL, run each module's queries as its own role with rights on its schema only. */
  databaseModuleRoles: boolean;
  /** BullMQ: prefix of every Redis key, so several systems or test runs can share one Redis. */
  eventQueuePrefix: string;
  /** BullMQ: jobs each handler's worker runs at once. */
  eventWorkerConcurrency: number;
  /** BullMQ: a worker's lock on a job; after a crash the job runs again once it expires. */
  eventLockMs: number;
  /**
   * How often an idle relay looks at its outbox. A commit that publishes
   * nudges its own process's relay at once; the poll only picks up rows left
   * by a crashed process or a process without a relay.
   */
  eventRelayPollMs: number;
  /**
   * Published outbox rows of events older than this many hours are purged in
   * the background, and inbox records an hour later; 0 keeps everything. The
   * same value in every process; `events republish` reaches back this far only.
   */
  eventRetentionHours: number;
  /**
   * On PostgreSQL, refuse database work started inside open database work
   * (`KERNEL.NESTED_DB_ACCESS`). Costs every promise a hook on Node 20, so it
   * defaults to off when NODE_ENV=production and on otherwise; always on for PGlite.
   */
  databaseNestingCheck: boolean;
  /**
   * Transactions of one event handler that may run at once in this process
   * (a handler can set its own with `on(..., { concurrency })`). Events of one
   * correlation id keep their order.
   */
  eventHandlerConcurrency: number;
  /**
   * On SIGTERM, how long the process keeps serving while `/health` answers
   * 503 `stopping`, so a load balancer takes it out of rotation before it
   * closes its port.
   */
  shutdownGraceMs: number;
  /**
   * After the grace period, how long the requests clients already sent (in
   * flight, or still waiting in the kernel) have to be answered before their
   * connections are closed.
   */
  shutdownDrainMs: number;
  /**
   * Admission control of routes that start asynchronous work: refuse them
   * (429 + Retry-After) while the event flow lags (ADR 0009). `off` still
   * measures and reports the lag.
   */
  admissionControl: boolean;
  /** The lag at which every such request is refused; from half of it on, a growing share is. */
  admissionMaxLagMs: number;
  /** How often the lag is measured. */
  admissionSampleMs: number;
  /**
   * The modules this process runs (`MODULES`): undefined means the topology
   * file's choice (every module by default); an empty list is a pure gateway.
   */
  modules: string[] | undefined;
  /** `SERVICE_URL_<MODULE>`: where a module that does not run here is served, by module name. */
  serviceUrls: Record<string, string>;
  /** Signs and checks the tokens of calls between services; required as soon as a module runs elsewhere. */
  serviceTokenSecret: string | undefined;
  /** Time limit of one remote API call and of one proxied request. */
  remoteTimeoutMs: number;
  /** How long a remote module's open circuit breaker waits before it lets one trial call through. */
  remoteBreakerHalfOpenMs: number;
  /**
   * While a remote module's breaker is open, this process asks the service's `/health` this often and lets the
   * trial call through as soon as it answers 200, instead of waiting out `remoteBreakerHalfOpenMs`; 0: no probe.
   */
  remoteRecoveryProbeMs: number;
  /** The topology file to read instead of the app's own (`createApp({ topologyFile })`). */
  topologyFile: string | undefined;
  /** Test-only fault points (`MMK_FAULT_POINTS`, see src/kernel/testing/fault-points.ts); refused in production. */
  faultPoints: string | undefined;
  /**
   * BullMQ: refuse to start on a Redis known to keep nothing on disk (no AOF),
   * where a restart loses every queued event. True when NODE_ENV=production,
   * unless `REDIS_VOLATILE_OK=true` accepts the risk.
   */
  redisPersistenceRequired: boolean;
  /**
   * `OTEL_EXPORTER_OTLP_ENDPOINT`: the OpenTelemetry collector's base URL (OTLP over HTTP); spans go to
   * `<endpoint>/v1/traces`. Unset: no tracing, and the SDK is not even loaded.
   */
  otelEndpoint: string | undefined;
  /** `OTEL_SERVICE_NAME`: the service name of this process's spans; by default the app's name, or the modules it runs. */
  otelServiceName: string | undefined;
}

/** Settings whose value an error message never shows. */
const SECRET_SETTINGS = new Set(['SERVICE_TOKEN_SECRET']);

/** Raised for a bad setting; its message is the one line printed at start-up. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads and validates the settings; a bad one throws a ConfigError naming it.
 *
 * @example
 * const config = loadConfig(process.env); // throws "PORT: expected an integer between 0 and 65535 (got "abc")"
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    // A secret is never echoed: the line goes to stderr and from there to the logs.
    const got = SECRET_SETTINGS.has(name) ? `${present[name]?.length ?? 0} characters, not shown` : JSON.stringify(withoutPassword(present[name]));
    throw new ConfigError(`Invalid setting ${name}: ${issue.message} (got ${got})`);
  }
  const s = parsed.data;
  const serviceUrls: Record<string, string> = {};
  for (const [name, value] of Object.entries(present)) {
    if (!name.startsWith('SERVICE_URL_')) continue;
    const module = name.slice('SERVICE_URL_'.length);
    if (!/^[A-Z][A-Z0-9_]*$/.test(module)) throw new ConfigError(`Invalid setting ${name}: expected SERVICE_URL_ followed by a module name in capitals, such as SERVICE_URL_PAYMENTS`);
    if (!isServiceUrl(value!)) {
      throw new ConfigError(`Invalid setting ${name}: expected an http:// or https:// base URL without path, query, fragment or credentials, such as http://127.0.0.1:4002 (got ${JSON.stringify(value)})`);
    }
    serviceUrls[module.toLowerCase()] = value!.replace(/\/+$/, '');
  }
  if (s.MMK_FAULT_POINTS !== undefined && s.NODE_ENV === 'production') {
    throw new ConfigError('Invalid setting MMK_FAULT_POINTS: test-only fault points are refused when NODE_ENV=production (unset MMK_FAULT_POINTS)');
  }
  return {
    port: s.PORT,
    databaseUrl: s.DATABASE_URL,
    dataDir: s.DATA_DIR,
    eventBus: s.EVENT_BUS,
    redisUrl: s.REDIS_URL,
    logLevel: s.LOG_LEVEL,
    databasePoolMax: s.DATABASE_POOL_MAX,
    eventRelay: s.EVENT_RELAY,
    eventMaxAttempts: s.EVENT_MAX_ATTEMPTS,
    eventClaimLeaseMs: s.EVENT_CLAIM_LEASE_MS,
    databaseModuleRoles: s.DATABASE_MODULE_ROLES === 'on',
    eventQueuePrefix: s.EVENT_QUEUE_PREFIX,
    eventWorkerConcurrency: s.EVENT_WORKER_CONCURRENCY,
    eventLockMs: s.EVENT_LOCK_MS,
    eventRelayPollMs: s.EVENT_RELAY_POLL_MS,
    eventRetentionHours: s.EVENT_RETENTION_HOURS,
    databaseNestingCheck: (s.DATABASE_NESTING_CHECK ?? (s.NODE_ENV === 'production' ? 'off' : 'on')) === 'on',
    eventHandlerConcurrency: s.EVENT_HANDLER_CONCURRENCY,
    shutdownGraceMs: s.SHUTDOWN_GRACE_MS,
    shutdownDrainMs: s.SHUTDOWN_DRAIN_MS,
    admissionControl: s.ADMISSION_CONTROL === 'on',
    admissionMaxLagMs: s.ADMISSION_MAX_LAG_MS,
    admissionSampleMs: s.ADMISSION_SAMPLE_MS,
    modules: s.MODULES === undefined ? undefined : s.MODULES === 'none' ? [] : s.MODULES.split(','),
    serviceUrls,
    serviceTokenSecret: s.SERVICE_TOKEN_SECRET,
    remoteTimeoutMs: s.REMOTE_TIMEOUT_MS,
    remoteBreakerHalfOpenMs: s.REMOTE_BREAKER_HALF_OPEN_MS,
    remoteRecoveryProbeMs: s.REMOTE_RECOVERY_PROBE_MS,
    topologyFile: s.TOPOLOGY_FILE,
    faultPoints: s.MMK_FAULT_POINTS,
    redisPersistenceRequired: s.NODE_ENV === 'production' && s.REDIS_VOLATILE_OK !== 'true',
    otelEndpoint: s.OTEL_EXPORTER_OTLP_ENDPOINT,
    otelServiceName: s.OTEL_SERVICE_NAME,
  };
}

/**
 * An http(s) base URL without path, query, fragment or credentials
 * (`SERVICE_URL_<MODULE>`): the connection pool of a remote module (undici)
 * takes an origin only, and refuses a path with an error that is not one line.
 */
export function isServiceUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.pathname === '/' &&
      url.search === '' &&
      url.hash === '' &&
      url.username === '' &&
      url.password === '' &&
      !value.includes('#') &&
      !value.includes('?')
    );
  } catch {
    return false;
  }
}

/** A value as an error line may show it: a URL's password replaced by `***`. */
function withoutPassword(value: string | undefined): string | undefined {
  if (value === undefined) return value;
  try {
    const url = new URL(value);
    if (url.password === '') return value;
    url.password = '***';
    return url.toString();
  } catch {
    return value;
  }
}

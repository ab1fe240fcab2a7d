/** Sent by a health probe of another process or `npm run topology`: answer for this process alone, without probing its remote modules. */
export const HEALTH_PROBE_HEADER = 'x-mmk-health-probe';

/** The state of one dependency or module. */
export type Status = 'up' | 'down';

export interface ModuleHealth {
  status: Status;
  location: 'local' | 'remote';
  checks: Record<string, Status | string>;
}

/** The body of `GET /health`. */
export interface HealthReport {
  status: Status;
  modules: Record<string, ModuleHealth>;
  services: Record<string, Status>;
}

/** A named probe: resolves when the thing is up. */
export type Probe = () => Promise<void>;

const PROBE_TIMEOUT_MS = 2_000;

/** Told why a probe failed (the report itself only says `down`, so it leaks nothing). */
export type ProbeFailureHandler = (probe: string, error: unknown) => void;

async function probe(name: string, check: Probe, onFailure: ProbeFailureHandler | undefined): Promise<Status> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('health probe timed out')), PROBE_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'up';
  } catch (error) {
    onFailure?.(name, error);
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs every probe; the report is `up` only when all of them are.
 *
 * @example
 * const report = await checkHealth({ database: () => db.ping() }, { catalog: { database: () => catalogDb.read(...) } }, (probe, err) => logger.warn({ err, probe }));
 */
export async function checkHealth(
  services: Record<string, Probe>,
  modules: Record<string, { location: 'local' | 'remote'; probes: Record<string, Probe> }>,
  onFailure?: ProbeFailureHandler,
): Promise<HealthReport> {
  const serviceEntries = await Promise.all(Object.entries(services).map(async ([name, check]) => [name, await probe(name, check, onFailure)] as const));
  const moduleEntries = await Promise.all(
    Object.entries(modules).map(async ([name, { location, probes }]) => {
      const checks = Object.fromEntries(await Promise.all(Object.entries(probes).map(async ([n, c]) => [n, await probe(`${name}.${n}`, c, onFailure)] as const)));
      const status: Status = Object.values(checks).every((s) => s === 'up') ? 'up' : 'down';
      return [name, { status, location, checks }] as const;
    }),
  );
  const all = [...serviceEntries.map(([, s]) => s), ...moduleEntries.map(([, m]) => m.status)];
  return {
    status: all.every((s) => s === 'up') ? 'up' : 'down',
    modules: Object.fromEntries(moduleEntries),
    services: Object.fromEntries(serviceEntries),
  };
}

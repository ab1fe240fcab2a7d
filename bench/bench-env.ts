/** An integer setting of a benchmark from the environment; unset or empty means `fallback`. */
export function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min} (got ${JSON.stringify(raw)})`);
  return value;
}

/** The parts of a benchmark that `BENCH_PARTS` (comma-separated) selects, in their own order; unset means all. */
export function partsEnv<P extends string>(all: readonly P[]): P[] {
  const names = (process.env.BENCH_PARTS || all.join(',')).split(',').map((p) => p.trim()).filter(Boolean);
  for (const name of names) if (!all.includes(name as P)) throw new Error(`BENCH_PARTS: unknown part "${name}" (use ${all.join(', ')})`);
  return all.filter((p) => names.includes(p));
}

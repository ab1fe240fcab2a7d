/** Checks on the modules' declared dependencies (src/modules/<m>/module.json) that no import rule can see. */
export interface ManifestProblem {
  rule: 'module-manifest-unknown-dependency' | 'module-manifest-cycle';
  from: string;
  to: string;
  message: string;
}

/**
 * Every declared dependency names an existing module, and the declared graph
 * has no cycle (a cycle would make both modules impossible to extract).
 *
 * @example
 * checkManifests({ a: ['b'], b: ['a'] }); // one module-manifest-cycle problem
 */
export function checkManifests(manifests: Record<string, string[]>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  for (const [name, deps] of Object.entries(manifests)) {
    for (const dep of deps) {
      if (!(dep in manifests)) {
        problems.push({ rule: 'module-manifest-unknown-dependency', from: name, to: dep, message: `${name} declares a dependency on ${dep}, which is not a module` });
      }
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      problems.push({ rule: 'module-manifest-cycle', from: cycle[0]!, to: cycle[1]!, message: `declared dependencies form a cycle: ${cycle.join(' → ')}` });
      return;
    }
    state.set(name, 'visiting');
    for (const dep of manifests[name] ?? []) if (dep in manifests) visit(dep, [...path, name]);
    state.set(name, 'done');
  };
  for (const name of Object.keys(manifests)) visit(name, []);
  return problems;
}

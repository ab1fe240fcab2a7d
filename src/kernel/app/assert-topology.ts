import type { ModuleContract } from '../module/contract.js';

const MODULE_NAME = /^[a-z][a-z0-9_]{0,30}$/;

/** Fails start-up on a module list that cannot work, with one line saying why. */
export function assertTopology(modules: readonly ModuleContract<any>[]): void {
  const names = new Set<string>();
  for (const module of modules) {
    if (!MODULE_NAME.test(module.name)) throw new Error(`module name "${module.name}" must be lower-case letters, digits and _`);
    if (names.has(module.name)) throw new Error(`module ${module.name} is listed twice`);
    names.add(module.name);
    if (module.api && module.api.module !== module.name) {
      throw new Error(`module ${module.name} exposes the API contract of ${module.api.module}`);
    }
    for (const event of module.events) {
      if (!event.name.startsWith(`${module.name}.`)) throw new Error(`module ${module.name} publishes ${event.name}: event names start with "${module.name}."`);
    }
  }
  for (const module of modules) {
    for (const dependency of module.dependsOn) {
      if (!names.has(dependency)) throw new Error(`module ${module.name} depends on ${dependency}, which is not in the module list`);
    }
  }
}

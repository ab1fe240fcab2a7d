import { z } from 'zod';
import type { ModuleContract } from './contract.js';

/** A module as data: what it offers, what it needs, what it publishes and consumes. */
export interface ModuleDescription {
  name: string;
  dependsOn: string[];
  operations: string[];
  publishes: Array<{ name: string; version: number; schema: unknown }>;
  consumes: Array<{ event: string; version: number; handler: string }>;
  routes: Array<{ method: string; path: string }>;
}

/**
 * A module as data from its contract alone, without its code: what it
 * offers, needs, publishes and consumes (`routes` is empty: only the code
 * knows them). Works for every module of a system, those extracted to a
 * service of their own included; `npm run topology` draws its graph from it.
 *
 * @example
 * const [catalog] = describeContracts([catalogContract]); // catalog.operations: ['getProduct', 'priceItems']
 */
export function describeContracts(contracts: readonly ModuleContract[]): ModuleDescription[] {
  return contracts.map((contract) => ({
    ...describeContract(contract),
    consumes: Object.entries(contract.consumes ?? {}).map(([handler, event]) => ({ event: event.name, version: event.version, handler: `${contract.name}.${handler}` })),
    routes: [],
  }));
}

/** The part of a description that the contract alone decides, for `describeContracts` and `describeModules`. */
export function describeContract(contract: ModuleContract): Pick<ModuleDescription, 'name' | 'dependsOn' | 'operations' | 'publishes'> {
  return {
    name: contract.name,
    dependsOn: [...contract.dependsOn],
    operations: Object.keys(contract.api?.operations ?? {}),
    publishes: contract.events.map((e) => ({ name: e.name, version: e.version, schema: z.toJSONSchema(e.schema, { io: 'output' }) })),
  };
}

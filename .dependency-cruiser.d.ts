// Types of the rules module, for the TypeScript tools that import it.
export interface RuleDefinition {
  name: string;
  comment: string;
  severity: string;
  from: Record<string, unknown>;
  to: Record<string, unknown>;
}
export interface ArchConfig {
  forbidden: RuleDefinition[];
  options: Record<string, unknown>;
}
export function readModuleManifests(root?: string): Record<string, string[]>;
export function declaredDependencyRules(manifests: Record<string, string[]>): RuleDefinition[];
export function createConfig(root?: string): ArchConfig;
declare const config: ArchConfig;
export default config;

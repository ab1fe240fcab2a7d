import type { Config } from '../config/config.js';
import { readTopologyFile } from '../topology/resolve-topology.js';
import { shellLine, UsageError } from './cli-output.js';

/**
 * The modules an `events` command may name in this codebase: those whose code
 * is here, whose tables the process's database holds. A module whose code runs
 * elsewhere (an extracted service, or the monolith seen from a service) is
 * named with where to run the command instead.
 */
export class EventsScope {
  readonly #readExtracted: () => Iterable<string>;
  #extracted: ReadonlySet<string> | undefined;

  constructor(
    /** The modules whose code this codebase holds. */
    readonly modules: readonly string[],
    /** The system's other modules (their contracts only). */
    readonly elsewhere: readonly string[],
    /** The command line after `npm run events --`, to repeat in a refusal. */
    readonly commandLine: readonly string[],
    /** Which of `elsewhere` are extracted services; read once, when first needed. */
    extracted: () => Iterable<string>,
  ) {
    this.#readExtracted = extracted;
  }

  get #extractedModules(): ReadonlySet<string> {
    this.#extracted ??= new Set(this.#readExtracted());
    return this.#extracted;
  }

  /** The scope of a codebase; which of the other modules are extracted comes from the topology file (`extracted: true`). */
  static of(options: { modules: readonly string[]; elsewhere: readonly string[]; commandLine: readonly string[]; config: () => Pick<Config, 'topologyFile'>; rootDir: string; topologyFile?: string }): EventsScope {
    // Read lazily: a command that names no module elsewhere reports its own mistakes (an id, a setting) first, as before.
    return new EventsScope(options.modules, options.elsewhere, options.commandLine, () => {
      if (options.elsewhere.length === 0) return [];
      const { file } = readTopologyFile(options.rootDir, options.config().topologyFile, options.topologyFile);
      return options.elsewhere.filter((m) => file?.modules[m]?.extracted === true);
    });
  }

  /** The modules a `--module` option names (all of this codebase's without one). */
  select(name: string | undefined): string[] {
    if (name === undefined) return [...this.modules];
    if (this.modules.includes(name)) return [name];
    if (this.elsewhere.includes(name)) throw new UsageError(this.whereToRun(name));
    throw new UsageError(`unknown module "${name}" (known modules: ${this.modules.join(', ')})`);
  }

  /** Where the command works for a module whose code runs elsewhere: one line naming the command to run instead. */
  whereToRun(name: string): string {
    const command = shellLine(this.commandLine);
    if (this.#extractedModules.has(name)) return `${name} is extracted: run npm run events -w extracted/${name} -- ${command} with the service's settings`;
    return `${name} runs in the monolith: run npm run events -- ${command} from the repository root with the monolith's settings`;
  }

  /** A line per extracted module, whose events this database does not hold, for the reports that cover every module. */
  extractedNotes(): string[] {
    const command = shellLine(this.commandLine);
    return [...this.#extractedModules].map((m) => `${m} is extracted: its outbox and dead letters are in its service's database; run npm run events -w extracted/${m} -- ${command} with the service's settings`);
  }
}

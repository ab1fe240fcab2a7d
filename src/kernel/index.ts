/**
 * The kernel's public surface. Modules and the composition root import the
 * kernel only from here.
 */
export { AppError, ERROR_KINDS, type ErrorKind, type ErrorBody } from './errors/app-error.js';
export { loadConfig, ConfigError, type Config } from './config/config.js';
export { createLogger, type Logger } from './logging/logger.js';
export type { CallContext } from './context/call-context.js';
export type { Database, ModuleDb } from './db/module-db.js';
/** The query builder type of the scoped handles (modules never import knex itself). */
export type { Knex } from 'knex';
export { migrateModule, type MigrationResult } from './db/migrator.js';
export { moveModuleData, redactUrl, type MoveDataOptions, type TableReport } from './db/move-data.js';
export { openDatabase } from './app/open-database.js';
export {
  defineApi,
  defineContract,
  defineEvent,
  consumes,
  eventKey,
  type ApiContract,
  type ApiOf,
  type ModuleContract,
  type EventDefinition,
  type EventSubscription,
  type EventVersionStep,
  type OperationDefinition,
  type PayloadOf,
} from './module/contract.js';
export { defineModule, type ModuleDefinition, type ModuleContext, type ModuleParts } from './module/define-module.js';
export { describeModules, type ModuleDescription } from './module/describe-modules.js';
export { describeContracts } from './module/describe-contracts.js';
export { moduleGraphEdges, moduleGraphMermaid, type ModuleGraphEdges, type ModuleGraphGroup, type ModuleGraphOptions } from './module/module-graph.js';
export { localBinding, jsonBinding, type ApiBinding } from './module/api-binding.js';
export { on, onBatch, type BatchItem, type EventHandlerDefinition, type HandlerContext, type HandlerOptions } from './events/event-consumer.js';
export type { EventEnvelope, EventTransport, EventConsumer } from './events/envelope.js';
export type { EventPublisher } from './events/event-publisher.js';
export {
  listDeadLetters,
  getDeadLetter,
  countDeadLetters,
  replayDeadLetter,
  isDeadLetterId,
  type DeadLetter,
  type DeadLetterCount,
  type ListDeadLettersOptions,
  type ReplayOutcome,
  type ReplayResult,
} from './events/dead-letters.js';
/**
 * Unpublished events in a module's outbox and the age of the oldest.
 *
 * @example
 * const { pending, oldestAgeMs } = await outboxBacklog(app.database.forModule('orders'));
 */
export { outboxBacklog } from './events/outbox-store.js';
/**
 * Marks the events a module published since a time unpublished again, so the
 * relays publish them once more (after a broker lost them); returns how many.
 *
 * @example
 * const handed = await republishSince(app.database.forModule('catalog'), new Date(Date.now() - 3_600_000));
 */
export { republishSince } from './events/outbox-store.js';
export { route, type RouteDefinition, type RouteResult } from './http/route.js';
export { createApp, type App, type AppOptions } from './app/create-app.js';
export { installShutdown } from './app/shutdown.js';
export { exitOnStartupFailure, startupFailureLine } from './app/startup-failure.js';
export { runEventsCli, type EventsCliOptions } from './cli/events-cli.js';

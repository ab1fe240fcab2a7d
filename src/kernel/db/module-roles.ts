import type { Knex } from 'knex';
import { assertIdentifier } from './module-db.js';

/**
 * The PostgreSQL role a module's queries run as: `mmk_module_<schema>`.
 *
 * @example
 * moduleRoleName('catalog'); // 'mmk_module_catalog'
 */
export function moduleRoleName(schema: string): string {
  return `mmk_module_${assertIdentifier(schema)}`;
}

/**
 * Creates the module's role if missing and gives it rights on its own schema
 * only: no other module's schema grants it usage, so a query that reaches
 * into one fails with "permission denied". Idempotent; runs inside the
 * migration transaction as the schema owner.
 */
export async function grantModuleRole(trx: Knex.Transaction, schema: string): Promise<void> {
  const role = moduleRoleName(schema);
  // Roles belong to the whole cluster: another database may be creating the same one right now.
  await trx.raw(`do $$ begin
      create role "${role}" nologin;
    exception when duplicate_object or unique_violation then null;
    end $$`);
  await trx.raw(`do $$ begin
      if not pg_has_role(current_user, '${role}', 'member') then
        execute format('grant %I to %I', '${role}', current_user);
      end if;
    end $$`);
  await trx.raw(`revoke all on schema "${schema}" from public`);
  await trx.raw(`grant usage on schema "${schema}" to "${role}"`);
  await trx.raw(`grant select, insert, update, delete on all tables in schema "${schema}" to "${role}"`);
  await trx.raw(`grant usage, select, update on all sequences in schema "${schema}" to "${role}"`);
}

import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';

/** The server the integration tests use; CI and the dev machine have it on 5432. */
export const TEST_POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * `MMK_TEST_TAG` (set by `npm run test:mutations` for each run of suites) goes into the names of the databases and
 * queue prefixes tests create, so that the runner can drop what a run stopped early (--bail) left behind.
 */
export function testTag(separator: string): string {
  const tag = process.env.MMK_TEST_TAG;
  return tag && /^[a-z0-9]+$/.test(tag) ? `${tag}${separator}` : '';
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** A fresh database per test file, so parallel runs never collide. */
export async function createTestDatabase(prefix = 'mmk'): Promise<TestDatabase> {
  const name = `${prefix}_${testTag('_')}${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: TEST_POSTGRES_URL, pool: { min: 0, max: 1 } });
  try {
    await admin.raw(`create database "${name}"`);
  } finally {
    await admin.destroy();
  }
  return {
    url: withDatabase(TEST_POSTGRES_URL, name),
    name,
    async drop() {
      const dropper = knexFactory({ client: 'pg', connection: TEST_POSTGRES_URL, pool: { min: 0, max: 1 } });
      try {
        await dropper.raw(`drop database if exists "${name}" with (force)`);
      } finally {
        await dropper.destroy();
      }
    },
  };
}

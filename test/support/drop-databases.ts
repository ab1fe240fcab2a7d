import pg from 'pg';

/**
 * Drops every database whose name matches the SQL `like` pattern, connections and all; returns their names.
 * Light on purpose (pg only): tools load it without the kit, to drop what a run left behind.
 */
export async function dropDatabasesLike(serverUrl: string, pattern: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>('select datname from pg_database where datname like $1', [pattern]);
    for (const { datname } of rows) await client.query(`drop database if exists "${datname}" with (force)`);
    return rows.map((row) => row.datname);
  } finally {
    await client.end();
  }
}

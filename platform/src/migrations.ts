import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';

/**
 * Applies the plain `.sql` files of `directory` in file-name order, each once, each in its
 * own transaction together with its bookkeeping row. `component` names the migration set
 * (write model, projections…), so several sets share one database without clashing. An
 * advisory lock serialises processes that start at the same time.
 *
 * Runs on a plain `pg` client because a migration file holds many statements, which only
 * the simple query protocol accepts.
 */
export async function runMigrations(
  databaseUrl: string,
  component: string,
  directory: string,
): Promise<string[]> {
  const files = (await readdir(directory)).filter((f) => f.endsWith('.sql')).sort();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query(`select pg_advisory_lock(hashtext('deeplens.migrations'))`);
    await client.query(`
      create table if not exists public.schema_migrations (
        component text not null,
        name text not null,
        applied_at timestamptz not null default now(),
        primary key (component, name)
      )`);
    const { rows } = await client.query<{ name: string }>(
      'select name from public.schema_migrations where component = $1',
      [component],
    );
    const done = new Set(rows.map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      const text = await readFile(join(directory, file), 'utf8');
      await client.query('begin');
      try {
        await client.query(text);
        await client.query('insert into public.schema_migrations (component, name) values ($1, $2)', [
          component,
          file,
        ]);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw new Error(`migration ${component}/${file} failed`, { cause: error });
      }
      applied.push(file);
    }
  } finally {
    await client.query(`select pg_advisory_unlock(hashtext('deeplens.migrations'))`).catch(() => undefined);
    await client.end();
  }
  return applied;
}

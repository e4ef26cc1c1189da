import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';

/**
 * platform/'s own migration set: the plain state its code reads and writes for every API
 * (sign-in throttle, per-tenant rate-limit buckets). Each API applies it at start-up
 * (`runPlatformMigrations`), so none depends on another having migrated first.
 */
export const platformMigrations = join(import.meta.dirname, '..', 'migrations');

/** Applies platform/'s migration set (`platformMigrations`) as component `platform`. */
export function runPlatformMigrations(databaseUrl: string): Promise<string[]> {
  return runMigrations(databaseUrl, 'platform', platformMigrations);
}

/** The schemas and tables a migration set leaves behind, as its `.sql` files declare them. */
export type DeclaredObjects = { schemas: string[]; tables: string[] };

const unquote = (name: string) => name.replaceAll('"', '').toLowerCase();

/**
 * The objects each file creates (`create schema`, `create table`) that no later file of the
 * set drops or renames away: what must exist once the file has been applied.
 */
export function declaredObjects(
  files: readonly { name: string; text: string }[],
): Map<string, DeclaredObjects> {
  const owner = new Map<string, string>(); // `schema:x` / `table:x.y` → the file that created it
  for (const { name, text } of files) {
    const sqlText = text.replace(/--.*$/gm, '');
    for (const m of sqlText.matchAll(/create\s+schema\s+(?:if\s+not\s+exists\s+)?([\w"]+)/gi))
      owner.set(`schema:${unquote(m[1]!)}`, name);
    for (const m of sqlText.matchAll(/create\s+(?:unlogged\s+)?table\s+(?:if\s+not\s+exists\s+)?([\w".]+)/gi))
      owner.set(`table:${unquote(m[1]!)}`, name);
    for (const m of sqlText.matchAll(/drop\s+table\s+(?:if\s+exists\s+)?([\w".]+)/gi))
      owner.delete(`table:${unquote(m[1]!)}`);
    for (const m of sqlText.matchAll(/drop\s+schema\s+(?:if\s+exists\s+)?([\w"]+)/gi))
      owner.delete(`schema:${unquote(m[1]!)}`);
    for (const m of sqlText.matchAll(
      /alter\s+table\s+(?:if\s+exists\s+)?([\w".]+)\s+rename\s+to\s+([\w"]+)/gi,
    )) {
      const from = unquote(m[1]!);
      owner.delete(`table:${from}`);
      const schema = from.includes('.') ? `${from.split('.')[0]}.` : '';
      owner.set(`table:${schema}${unquote(m[2]!)}`, name);
    }
  }
  const byFile = new Map<string, DeclaredObjects>(files.map((f) => [f.name, { schemas: [], tables: [] }]));
  for (const [object, file] of owner) {
    const [kind, name] = object.split(':') as ['schema' | 'table', string];
    byFile.get(file)![kind === 'schema' ? 'schemas' : 'tables'].push(name);
  }
  return byFile;
}

async function missingObjects(client: pg.Client, declared: DeclaredObjects): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `select s.name from unnest($1::text[]) as s(name)
       where not exists (select 1 from pg_namespace n where n.nspname = s.name)
     union all
     select t.name from unnest($2::text[]) as t(name) where to_regclass(t.name) is null`,
    [declared.schemas, declared.tables],
  );
  return rows.map((r) => r.name);
}

/**
 * Applies the plain `.sql` files of `directory` in file-name order, each once, each in its
 * own transaction together with its bookkeeping row (which also records the schemas and tables
 * the file creates). `component` names the migration set (write model, projections…), so
 * several sets share one database without clashing. An advisory lock serialises processes
 * that start at the same time.
 *
 * The objects are checked, not only the bookkeeping: when a schema or table an applied file
 * declared is gone (a dropped schema), that file and every later one of the set are applied
 * again; if that cannot work (the loss is partial and the files are not idempotent), start-up
 * fails naming what is missing.
 *
 * Runs on a plain `pg` client because a migration file holds many statements, which only
 * the simple query protocol accepts.
 */
export async function runMigrations(
  databaseUrl: string,
  component: string,
  directory: string,
): Promise<string[]> {
  const names = (await readdir(directory)).filter((f) => f.endsWith('.sql')).sort();
  const files = await Promise.all(
    names.map(async (name) => ({ name, text: await readFile(join(directory, name), 'utf8') })),
  );
  const declared = declaredObjects(files);
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
    await client.query(`alter table public.schema_migrations add column if not exists objects text[]`);
    const { rows } = await client.query<{ name: string }>(
      'select name from public.schema_migrations where component = $1',
      [component],
    );
    const done = new Set(rows.map((r) => r.name));
    // The first applied file whose objects are gone: it and every later file run again.
    let reapplyFrom = files.length;
    const missingByFile = new Map<string, string[]>();
    for (const [i, file] of files.entries()) {
      if (!done.has(file.name)) continue;
      const missing = await missingObjects(client, declared.get(file.name)!);
      if (missing.length === 0) continue;
      missingByFile.set(file.name, missing);
      reapplyFrom = Math.min(reapplyFrom, i);
    }
    for (const [i, file] of files.entries()) {
      const again = i >= reapplyFrom;
      if (done.has(file.name) && !again) continue;
      await client.query('begin');
      try {
        await client.query(file.text);
        const objects = declared.get(file.name)!;
        await client.query(
          `insert into public.schema_migrations (component, name, objects) values ($1, $2, $3)
           on conflict (component, name) do update set applied_at = now(), objects = excluded.objects`,
          [component, file.name, [...objects.schemas, ...objects.tables]],
        );
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        const gone = [...missingByFile].map(([f, m]) => `${f}: ${m.join(', ')}`).join('; ');
        throw new Error(
          again && done.has(file.name)
            ? `migration ${component}/${file.name} was applied but its objects are gone (${gone}), and applying it again failed`
            : `migration ${component}/${file.name} failed`,
          { cause: error },
        );
      }
      applied.push(file.name);
    }
  } finally {
    await client.query(`select pg_advisory_unlock(hashtext('deeplens.migrations'))`).catch(() => undefined);
    await client.end();
  }
  return applied;
}

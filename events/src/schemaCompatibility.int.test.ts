import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '@deeplens/platform/config';
import { createSchemaRegistry, registerAvroSchema } from '@deeplens/platform/schemaRegistry';
import { uniqueName } from '@deeplens/platform/testing/testTopics';
import { loadSchemaCatalog, registrableSchemas, schemasDir, type RecordSchema } from './eventSchemas.ts';

const repoRoot = resolve(schemasDir, '..');

/** `schemas/` as it was at every commit that changed it, oldest first. */
function historicalCatalogs(): { commit: string; schemas: RecordSchema[] }[] {
  let commits: string[];
  try {
    commits = execFileSync('git', ['log', '--format=%H', '--reverse', '--', 'schemas'], {
      cwd: repoRoot,
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
  return commits.flatMap((commit) => {
    const dir = mkdtempSync(join(tmpdir(), 'schemas-'));
    execFileSync('sh', ['-c', `git archive ${commit} schemas | tar -x -C ${dir}`], { cwd: repoRoot });
    try {
      const catalog = loadSchemaCatalog(join(dir, 'schemas'));
      return [{ commit, schemas: [...Object.values(catalog.events), catalog.intakeEnvelope] }];
    } catch {
      return []; // a layout older than the loader understands
    }
  });
}

describe('schema evolution against the registry', () => {
  it('registers every schema as it evolved through history, then today’s: each change is BACKWARD_TRANSITIVE', async (t) => {
    const config = loadConfig();
    const registry = createSchemaRegistry(config);
    // A private namespace of subjects, so this run's history does not meet another's.
    const prefix = uniqueName('compat');
    const subjects = new Set<string>();
    t.after(async () => {
      for (const subject of subjects) {
        await fetch(`${config.SCHEMA_REGISTRY_URL}/subjects/${encodeURIComponent(subject)}`, {
          method: 'DELETE',
        });
      }
    });
    const history = historicalCatalogs();
    for (const { commit, schemas } of [
      ...history,
      { commit: 'working tree', schemas: registrableSchemas() },
    ]) {
      for (const schema of schemas) {
        const subject = `${prefix}.${schema.subject}`;
        subjects.add(subject);
        await assert.doesNotReject(
          registerAvroSchema(registry, subject, schema.schema),
          `${schema.recordName} at ${commit.slice(0, 10)} must stay readable by every earlier reader`,
        );
      }
    }
    assert.ok(subjects.size >= registrableSchemas().length);
  });
});

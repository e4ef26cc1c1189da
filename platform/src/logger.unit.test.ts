import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { createLogger, redactedFieldNames, type LogLevel } from './logger.ts';
import { startTelemetry, withSpan } from './telemetry.ts';

function collecting(level: LogLevel = 'debug', bindings: Record<string, unknown> = {}) {
  const lines: string[] = [];
  const log = createLogger(bindings, level, (line) => lines.push(line));
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { log, lines, records };
}

describe('createLogger (pino)', () => {
  it('writes one JSON object per line: ISO time, level label, msg, bound and given fields', () => {
    const { log, lines, records } = collecting('debug', { process: 'test' });
    log.info('image stored', { imageId: 'i1', bytes: 12 });
    log.child({ tenantId: 't1' }).warn('slow', { ms: 900 });
    assert.equal(lines.length, 2);
    assert.ok(lines.every((line) => !line.includes('\n')));
    const [info, warn] = records();
    assert.equal(info!.level, 'info');
    assert.equal(info!.msg, 'image stored');
    assert.equal(new Date(info!.time as string).toISOString(), info!.time);
    assert.equal(info!.process, 'test');
    assert.equal(info!.imageId, 'i1');
    assert.equal(info!.bytes, 12);
    assert.equal(info!.pid, undefined);
    assert.equal(info!.hostname, undefined);
    assert.equal(warn!.level, 'warn');
    assert.equal(warn!.tenantId, 't1');
    assert.equal(warn!.process, 'test');
    assert.equal(warn!.ms, 900);
  });

  it('drops lines below its level', () => {
    const { log, records } = collecting('warn');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    assert.deepEqual(
      records().map((r) => r.level),
      ['warn', 'error'],
    );
  });

  it('a field given at the call wins over the same bound field', () => {
    const { log, records } = collecting('info', { tenantId: 'bound' });
    log.info('x', { tenantId: 'given' });
    assert.equal(records()[0]!.tenantId, 'given');
  });

  it('serialises errors under any key with name, message, code and cause', () => {
    const { log, records } = collecting();
    const cause = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    log.error('upload failed', { error: new TypeError('bad', { cause }), err: new Error('other') });
    const record = records()[0]!;
    assert.deepEqual(record.error, {
      name: 'TypeError',
      message: 'bad',
      cause: { name: 'Error', message: 'connection refused', code: 'ECONNREFUSED' },
    });
    assert.deepEqual(record.err, { name: 'Error', message: 'other' });
  });

  it('redacts secret-named fields, top-level, nested and bound, keeping the rest', () => {
    const { log, lines, records } = collecting('info', { sasToken: 'sv=bound-sas' });
    log.info('signed in', {
      email: 'ada@example.org',
      password: 'hunter2',
      refreshToken: 'rt-abc',
      apiKey: 'key-123',
      headers: { authorization: 'Bearer eyJ-secret', accept: 'image/jpeg' },
      storage: { kind: 's3', accessKey: 'AKIA-1', secretAccessKey: 'sak-2', accountKey: 'ak-3' },
      tenant: { settings: { privateKey: 'pk-4', token: 'tk-5' } },
    });
    const record = records()[0]!;
    assert.equal(record.email, 'ada@example.org');
    assert.equal(record.password, '[Redacted]');
    assert.equal(record.refreshToken, '[Redacted]');
    assert.equal(record.apiKey, '[Redacted]');
    assert.equal(record.sasToken, '[Redacted]');
    assert.deepEqual(record.headers, { authorization: '[Redacted]', accept: 'image/jpeg' });
    assert.deepEqual(record.storage, {
      kind: 's3',
      accessKey: '[Redacted]',
      secretAccessKey: '[Redacted]',
      accountKey: '[Redacted]',
    });
    assert.deepEqual(record.tenant, { settings: { privateKey: '[Redacted]', token: '[Redacted]' } });
    assert.doesNotMatch(lines[0]!, /hunter2|rt-abc|key-123|bound-sas|eyJ-secret|AKIA-1|sak-2|ak-3|pk-4|tk-5/);
  });

  it('redacts every listed field name', () => {
    const { log, lines, records } = collecting();
    const fields = Object.fromEntries(redactedFieldNames.map((name) => [name, `value-of-${name}`]));
    log.info('all', { ...fields, nested: fields });
    const record = records()[0]!;
    for (const name of redactedFieldNames) {
      assert.equal(record[name], '[Redacted]', name);
      assert.equal((record.nested as Record<string, unknown>)[name], '[Redacted]', name);
    }
    assert.doesNotMatch(lines[0]!, /value-of-/);
  });

  it('names the active trace and span inside a span (OpenTelemetry), and none outside', async () => {
    // Spans go nowhere: the discard port refuses the export.
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = 'http://127.0.0.1:9/v1/traces';
    process.env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT = '200';
    const telemetry = await startTelemetry('logger-test', { OTEL_ENABLED: true });
    try {
      const { log, records } = collecting();
      log.info('outside');
      const ids = await withSpan('logging', {}, async (span) => {
        log.info('inside');
        return span.spanContext();
      });
      const [outside, inside] = records();
      assert.equal(outside!.trace_id, undefined);
      assert.equal(inside!.trace_id, ids.traceId);
      assert.equal(inside!.span_id, ids.spanId);
      assert.match(ids.traceId, /^[0-9a-f]{32}$/);
    } finally {
      await telemetry.shutdown().catch(() => undefined);
    }
  });

  it('writes to stdout synchronously: a line logged just before process.exit is not lost', () => {
    const logger = pathToFileURL(new URL('./logger.ts', import.meta.url).pathname).href;
    const script = [
      `import { createLogger } from ${JSON.stringify(logger)};`,
      `const log = createLogger({ process: 'exit-test' });`,
      `for (let i = 0; i < 2000; i++) log.info('line', { i, padding: 'x'.repeat(200) });`,
      `process.exit(3);`,
    ].join('\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(child.status, 3, child.stderr);
    const lines = child.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2000);
    assert.equal((JSON.parse(lines.at(-1)!) as { i: number }).i, 1999);
  });
});

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { createCommandHandler } from '../commandHandler.ts';
import { createWriteModelDatabase } from '../testing/writeModelDatabase.ts';
import { tenantAggregate } from '../writeModelRules.ts';
import { sql } from '@deeplens/platform/database';
import { tenantSubject } from '@deeplens/platform/dataKeys';
import { createKafka } from '@deeplens/platform/kafka';
import {
  dataKeysTopic,
  ensureDataKeysTopic,
  startKafkaDataKeyStore,
} from '@deeplens/platform/kafkaDataKeyStore';
import { freePort } from '@deeplens/platform/testing/freePort';

const repoRoot = join(import.meta.dirname, '..', '..', '..');

describe('outbox relay readiness', () => {
  it('a data key that does not unwrap with DATA_KEY_MASTER_KEY: /readyz 503 naming the subject, a metric raised, nothing skipped; the right key publishes it', async (t) => {
    const { pool, config } = await createWriteModelDatabase(t);
    const prefix = `t${randomBytes(4).toString('hex')}.`;
    const kafka = createKafka(config, 'relay-readiness-test');
    const admin = kafka.admin();
    await admin.connect();
    t.after(async () => {
      const mine = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
      if (mine.length > 0) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
      await admin.disconnect();
    });
    const keyTopic = `${prefix}${dataKeysTopic}`;
    await ensureDataKeysTopic(admin, keyTopic);

    // A tenant whose data key was wrapped by one master key (`right`) ...
    const right = randomBytes(32);
    const wrong = randomBytes(32);
    const tenantId = randomUUID();
    const store = await startKafkaDataKeyStore({
      kafka,
      databaseUrl: config.DATABASE_URL,
      masterKey: right,
      topic: keyTopic,
    });
    await store.keyForWriting(tenantSubject(tenantId));
    await store.stop();
    await createCommandHandler({ pool }).handle(
      tenantAggregate,
      {
        type: 'ProvisionTenant',
        data: { tenantId, slug: `t-${tenantId}`, name: 'Secret Corp', plan: 'free' },
      },
      { actor: 'system:test' },
    );

    // ... and a relay configured with another (`wrong`).
    const metricsPort = await freePort();
    const base = `http://127.0.0.1:${metricsPort}`;
    const startRelay = (masterKey: Buffer): ChildProcess => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'commands/src/outbox/relayMain.ts'], {
        cwd: repoRoot,
        env: {
          ...process.env,
          DATABASE_URL: config.DATABASE_URL,
          KAFKA_TOPIC_PREFIX: prefix,
          DATA_KEY_MASTER_KEY: masterKey.toString('base64'),
          METRICS_PORT: String(metricsPort),
          METRICS_HOST: '127.0.0.1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      Object.defineProperty(child, 'output', { get: () => output });
      return child;
    };
    const stopRelay = async (child: ChildProcess) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(30_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    };
    const outputOf = (child: ChildProcess) => (child as ChildProcess & { output: string }).output;
    const unpublished = () =>
      pool.oneFirst(
        sql.type(z.object({ n: z.number() }))`
          select count(*)::int8 as n from write.outbox where published_at is null`,
      );
    const blockedMetric = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('deeplens_relay_blocked{reason="data-key"}'));
      return line === undefined ? undefined : Number(line.split(' ').pop());
    };
    /** Polls `/readyz` until `until` holds for its status and body. */
    const readyzUntil = async (child: ChildProcess, until: (status: number, body: string) => boolean) => {
      const deadline = Date.now() + 180_000;
      for (;;) {
        const answer = await fetch(`${base}/readyz`).then(
          async (r) => ({ status: r.status, body: await r.text() }),
          () => undefined,
        );
        if (answer && until(answer.status, answer.body)) return answer;
        assert.ok(
          Date.now() < deadline && child.exitCode === null,
          `relay /readyz: ${JSON.stringify(answer)}\n${outputOf(child).slice(-3000)}`,
        );
        await sleep(250);
      }
    };

    const wrongRelay = startRelay(wrong);
    t.after(() => stopRelay(wrongRelay));
    const notReady = await readyzUntil(wrongRelay, (status) => status === 503);
    const reasons = (JSON.parse(notReady.body) as { reasons: { component: string; reason: string }[] })
      .reasons;
    const reason = reasons.find((r) => r.component === 'outbox relay')?.reason ?? '';
    assert.match(
      reason,
      new RegExp(`data key for subject ${tenantSubject(tenantId)} does not unwrap with DATA_KEY_MASTER_KEY`),
    );
    for (const secret of [right, wrong]) {
      for (const encoding of ['base64', 'hex', 'base64url'] as const) {
        assert.ok(!notReady.body.includes(secret.toString(encoding)), 'no master key in /readyz');
        assert.ok(!outputOf(wrongRelay).includes(secret.toString(encoding)), 'no master key in the log');
      }
    }
    assert.ok(!notReady.body.includes('Secret Corp'), 'no personal data in /readyz');
    assert.equal(await blockedMetric(), 1, 'deeplens_relay_blocked{reason="data-key"} raised');
    // It keeps retrying, and skips nothing: the event stays in the outbox, not in Kafka.
    await sleep(3000);
    assert.equal(await unpublished(), 1);
    assert.equal(wrongRelay.exitCode, null, 'the relay retries, it does not exit');
    const offsets = await admin.fetchTopicOffsets(`${prefix}deeplens.tenant.v1`);
    assert.ok(
      offsets.every((p) => p.high === p.low),
      'nothing was published past the event it could not seal',
    );
    await stopRelay(wrongRelay);

    // The master key that wrapped it: published, ready, the metric down.
    const rightRelay = startRelay(right);
    t.after(() => stopRelay(rightRelay));
    for (let i = 0; (await unpublished()) > 0; i++) {
      assert.ok(i < 720, `the relay with the right key publishes\n${outputOf(rightRelay).slice(-3000)}`);
      await sleep(250);
    }
    await readyzUntil(rightRelay, (status) => status === 200);
    assert.equal(await blockedMetric(), 0);
  });
});

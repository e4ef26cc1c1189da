import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { startDeepLens, type RunningDeepLens } from '@deeplens/platform/testing/deeplensProcesses';

const photosDir = join(import.meta.dirname, '..', '..', 'embedder', 'fixtures', 'photos');

type Hit = { imageId: string; score: number; tags: string[] };

function api(base: string, token?: string) {
  return async (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
    });
}

async function json<T>(response: Response, status = 200): Promise<T> {
  const text = await response.text();
  assert.equal(response.status, status, text);
  return JSON.parse(text) as T;
}

async function signIn(deeplens: RunningDeepLens, email: string, password: string): Promise<string> {
  const body = await json<{ access_token: string }>(
    await api(deeplens.writeUrl)('POST', '/v1/auth/token', { grant_type: 'password', email, password }),
  );
  return body.access_token;
}

/** A tenant with a tenant user, signed in. */
async function tenant(deeplens: RunningDeepLens, adminToken: string, slug: string) {
  const created = await json<{ id: string }>(
    await api(deeplens.writeUrl, adminToken)('POST', '/v1/tenants', { slug, name: slug }),
    201,
  );
  await json(
    await api(deeplens.writeUrl, adminToken)('POST', '/v1/users', {
      email: `user@${slug}.test`,
      password: `${slug} password!`,
      role: 'tenant_user',
      tenantId: created.id,
    }),
    201,
  );
  const token = await signIn(deeplens, `user@${slug}.test`, `${slug} password!`);
  return { id: created.id, write: api(deeplens.writeUrl, token), read: api(deeplens.readUrl, token) };
}

async function upload(
  write: ReturnType<typeof api>,
  files: { name: string; bytes: Buffer; tags: string[] }[],
): Promise<string[]> {
  const ids: string[] = [];
  for (const file of files) {
    const form = new FormData();
    form.append('file', new Blob([file.bytes], { type: 'image/jpeg' }), file.name);
    form.append('tags', file.tags.join(','));
    const body = await json<{ images: { id: string }[] }>(await write('POST', '/v1/images', form), 202);
    ids.push(body.images[0]!.id);
  }
  return ids;
}

async function waitUntilIndexed(
  read: ReturnType<typeof api>,
  ids: string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(ids);
  while (pending.size > 0) {
    for (const id of [...pending]) {
      const response = await read('GET', `/v1/images/${id}`);
      const text = await response.text();
      if (response.status === 200 && (JSON.parse(text) as { status: string }).status === 'indexed')
        pending.delete(id);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) throw new Error(`${pending.size} images not indexed in time`);
    await sleep(300);
  }
}

describe('DeepLens end to end: two tenants, real photos, search with edited copies', () => {
  it('finds each original first from an edited copy, by upload and by id, with filters and no cross-tenant hit', async (t) => {
    const deeplens = await startDeepLens(t);
    const adminToken = await signIn(deeplens, deeplens.admin.email, deeplens.admin.password);
    const a = await tenant(deeplens, adminToken, 'alpha');
    const b = await tenant(deeplens, adminToken, 'bravo');

    const names = (await readdir(photosDir)).filter((f) => f.endsWith('.jpg')).sort();
    const photos = await Promise.all(
      names.map(async (name) => ({ name, bytes: await readFile(join(photosDir, name)) })),
    );
    // Alpha holds photos 0–11, bravo 6–17: six pictures are in both tenants.
    const alphaPhotos = photos
      .slice(0, 12)
      .map((p, i) => ({ ...p, tags: ['alpha', i % 2 === 0 ? 'even' : 'odd'] }));
    const bravoPhotos = photos.slice(6, 18).map((p) => ({ ...p, tags: ['bravo'] }));
    const alphaIds = await upload(a.write, alphaPhotos);
    const bravoIds = await upload(b.write, bravoPhotos);
    await waitUntilIndexed(a.read, alphaIds, 180_000);
    await waitUntilIndexed(b.read, bravoIds, 180_000);

    const edits: [string, (image: sharp.Sharp, w: number, h: number) => sharp.Sharp][] = [
      [
        '75% centre crop',
        (img, w, h) =>
          img.extract({
            left: Math.round(w * 0.125),
            top: Math.round(h * 0.125),
            width: Math.round(w * 0.75),
            height: Math.round(h * 0.75),
          }),
      ],
      ['brightness ×1.4', (img) => img.modulate({ brightness: 1.4 })],
      ['mirror', (img) => img.flop()],
    ];
    let byUploadTop1 = 0;
    let queries = 0;
    const alphaSet = new Set(alphaIds);
    // Photos 6–9 are in both tenants: their hits must still be alpha's own.
    for (const index of [0, 3, 6, 9]) {
      const original = alphaPhotos[index]!;
      const { width = 0, height = 0 } = await sharp(original.bytes).metadata();
      for (const [name, edit] of edits) {
        const edited = await edit(sharp(original.bytes), width, height).jpeg({ quality: 85 }).toBuffer();
        const form = new FormData();
        form.append('file', new Blob([edited], { type: 'image/jpeg' }), 'query.jpg');
        form.append('k', '5');
        const result = await json<{ hits: Hit[] }>(await a.read('POST', '/v1/search', form));
        queries++;
        if (result.hits[0]?.imageId === alphaIds[index]) byUploadTop1++;
        else
          console.log(
            `by upload: ${original.name} (${name}) ranked ${result.hits.findIndex((h) => h.imageId === alphaIds[index]) + 1}`,
          );
        for (const hit of result.hits)
          assert.ok(alphaSet.has(hit.imageId), `hit ${hit.imageId} is alpha's own`);
      }
    }
    assert.ok(
      byUploadTop1 / queries >= 0.9,
      `by upload: ${byUploadTop1}/${queries} edited copies found their original first`,
    );

    // By id: an edited copy stored in the tenant finds its original first.
    const original = alphaPhotos[6]!;
    const mirrored = await sharp(original.bytes).flop().jpeg({ quality: 80 }).toBuffer();
    const [mirroredId] = await upload(a.write, [
      { name: 'mirrored.jpg', bytes: mirrored, tags: ['alpha', 'copy'] },
    ]);
    await waitUntilIndexed(a.read, [mirroredId!], 120_000);
    const similar = await json<{ hits: Hit[] }>(await a.read('GET', `/v1/images/${mirroredId}/similar?k=3`));
    assert.equal(similar.hits[0]?.imageId, alphaIds[6], 'the mirrored copy finds its original first');
    const byIdSearch = await json<{ hits: Hit[] }>(
      await a.read('POST', '/v1/search', { imageId: mirroredId, k: 3 }),
    );
    assert.equal(byIdSearch.hits[0]?.imageId, alphaIds[6]);

    // Filters: only images with the tag come back.
    const filtered = await json<{ hits: Hit[] }>(
      await a.read('POST', '/v1/search', { imageId: alphaIds[0], k: 10, filter: { tags: ['odd'] } }),
    );
    assert.ok(filtered.hits.length > 0);
    for (const hit of filtered.hits)
      assert.ok(hit.tags.includes('odd'), `${hit.imageId} carries the filter's tag`);

    // Bravo sees only bravo's images, even for a picture both tenants hold.
    const bravoSet = new Set(bravoIds);
    const bravoForm = new FormData();
    bravoForm.append('file', new Blob([photos[7]!.bytes], { type: 'image/jpeg' }), 'q.jpg');
    const bravoHits = await json<{ hits: Hit[] }>(await b.read('POST', '/v1/search', bravoForm));
    assert.equal(bravoHits.hits[0]?.imageId, bravoIds[1], 'bravo finds its own copy of the shared picture');
    for (const hit of bravoHits.hits) assert.ok(bravoSet.has(hit.imageId));
    // Another tenant's image id answers 404, never its data.
    assert.equal((await b.read('GET', `/v1/images/${alphaIds[0]}`)).status, 404);
    assert.equal((await b.read('GET', `/v1/images/${alphaIds[0]}/similar`)).status, 404);
    assert.equal((await b.read('GET', `/v1/images/${alphaIds[0]}/content`)).status, 404);
    assert.equal((await b.read('POST', '/v1/search', { imageId: alphaIds[0] })).status, 404);

    // Browsing, thumbnails, content, usage.
    const page = await json<{ items: { id: string; status: string }[]; nextCursor: string | null }>(
      await a.read('GET', '/v1/images?limit=5&tag=alpha'),
    );
    assert.equal(page.items.length, 5);
    assert.ok(page.nextCursor);
    const thumbnail = await a.read('GET', `/v1/images/${alphaIds[0]}/thumbnail`);
    assert.equal(thumbnail.status, 200);
    assert.equal(thumbnail.headers.get('content-type'), 'image/webp');
    const content = await a.read('GET', `/v1/images/${alphaIds[0]}/content`);
    assert.deepEqual(Buffer.from(await content.arrayBuffer()), alphaPhotos[0]!.bytes);
    const usage = await json<{ images: number }>(await a.read('GET', `/v1/tenants/${a.id}/usage`));
    assert.equal(usage.images, 13);
    const duplicates = await json<{ groups: { images: { imageId: string }[] }[] }>(
      await a.read('GET', '/v1/duplicates?threshold=0.9'),
    );
    assert.ok(
      duplicates.groups.some(
        (g) =>
          g.images.some((i) => i.imageId === mirroredId) && g.images.some((i) => i.imageId === alphaIds[6]),
      ),
      'the mirrored copy and its original form a duplicate group',
    );
  });
});

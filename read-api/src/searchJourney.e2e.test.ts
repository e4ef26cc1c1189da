import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { createDeepLensClient, type DeepLensClient } from '@deeplens/client/deepLensClient';
import { DeepLensApiError } from '@deeplens/client/clientErrors';
import { startDeepLens, type RunningDeepLens } from '@deeplens/platform/testing/deeplensProcesses';
import { z } from 'zod';
import { sql } from '@deeplens/platform/database';
import { tenantSchemaBase } from '@deeplens/projections/metadataSchema';
import { dropQdrantCollections } from '@deeplens/projections/qdrantVectorIndex';
import { dedicatedDatabases } from './testing/dedicatedDatabases.ts';

const photosDir = join(import.meta.dirname, '..', '..', 'embedder', 'fixtures', 'photos');

/**
 * A tenant with a signed-in tenant user, through the typed client as an integration would. On
 * the pro plan (600 request units a minute on each API): the journey measures search, not the
 * free plan's 60 a minute, which its polling and searches would spend. `dedicated`: on the
 * enterprise plan with its metadata in a database of its own.
 */
async function tenant(deeplens: RunningDeepLens, admin: DeepLensClient, slug: string, dedicated = false) {
  const created = await admin.createTenant(
    dedicated
      ? { slug, name: slug, plan: 'enterprise', isolation: 'dedicated' }
      : { slug, name: slug, plan: 'pro' },
  );
  assert.equal(created.isolation, dedicated ? 'dedicated' : 'shared');
  await admin.createUser({
    email: `user@${slug}.test`,
    password: `${slug} password!`,
    role: 'tenant_user',
    tenantId: created.id,
  });
  const client = createDeepLensClient({ writeUrl: deeplens.writeUrl, readUrl: deeplens.readUrl });
  await client.signIn({ email: `user@${slug}.test`, password: `${slug} password!` });
  return { id: created.id, client };
}

async function upload(
  client: DeepLensClient,
  files: { name: string; bytes: Buffer; tags: string[] }[],
): Promise<string[]> {
  const ids: string[] = [];
  for (const file of files) {
    const result = await client.uploadImages(
      [{ filename: file.name, bytes: file.bytes, type: 'image/jpeg' }],
      { tags: file.tags },
    );
    ids.push(result.images[0]!.id);
  }
  return ids;
}

async function status(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (error) {
    if (error instanceof DeepLensApiError) return error.status;
    throw error;
  }
}

/** Each journey runs on the embedded index and, when `QDRANT_URL` names a server, on Qdrant. */
const vectorStores = [
  { store: 'embedded', env: {}, skip: false },
  {
    store: 'qdrant',
    env: { VECTOR_STORE: 'qdrant', QDRANT_URL: process.env.QDRANT_URL ?? '' },
    skip: process.env.QDRANT_URL ? false : 'QDRANT_URL is not set: no Qdrant to test against',
  },
] as const;

describe('DeepLens end to end: two tenants, real photos, search with edited copies', () => {
  for (const { store, env, skip } of vectorStores)
    it(
      `finds each original first from an edited copy, by upload and by id, with filters and no cross-tenant hit, alpha on a dedicated database (vector store: ${store})`,
      { skip },
      async (t) => {
        const deeplens = await startDeepLens(t, { env });
        if (store === 'qdrant') {
          const namespace = deeplens.env.DEEPLENS_VECTOR_NAMESPACE!;
          t.after(() =>
            dropQdrantCollections(
              { url: env.QDRANT_URL, apiKey: process.env.QDRANT_API_KEY },
              `${namespace}_g`,
            ),
          );
        }
        const admin = createDeepLensClient({ writeUrl: deeplens.writeUrl, readUrl: deeplens.readUrl });
        await admin.signIn({ email: deeplens.admin.email, password: deeplens.admin.password });
        // Alpha's metadata lives in a database of its own, bravo's in the shared one: every
        // search and every cross-tenant check below crosses that boundary.
        const databases = dedicatedDatabases(t, deeplens);
        const a = await tenant(deeplens, admin, 'alpha', true);
        const b = await tenant(deeplens, admin, 'bravo');

        const names = (await readdir(photosDir)).filter((f) => f.endsWith('.jpg')).sort();
        const photos = await Promise.all(
          names.map(async (name) => ({ name, bytes: await readFile(join(photosDir, name)) })),
        );
        // Alpha holds photos 0–11, bravo 6–17: six pictures are in both tenants.
        const alphaPhotos = photos
          .slice(0, 12)
          .map((p, i) => ({ ...p, tags: ['alpha', i % 2 === 0 ? 'even' : 'odd'] }));
        const bravoPhotos = photos.slice(6, 18).map((p) => ({ ...p, tags: ['bravo'] }));
        const alphaIds = await upload(a.client, alphaPhotos);
        const bravoIds = await upload(b.client, bravoPhotos);
        await a.client.waitUntilIndexed(alphaIds, 180_000);
        await b.client.waitUntilIndexed(bravoIds, 180_000);

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
            const result = await a.client.searchByImage(edited, {
              k: 5,
              filename: 'query.jpg',
              type: 'image/jpeg',
            });
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

        // Geometric verification: a watermarked copy and an off-centre crop come back verified
        // and first (the hits carry `verified` and the inlier count).
        {
          const original = alphaPhotos[3]!;
          const { width = 0, height = 0 } = await sharp(original.bytes).metadata();
          const text = Buffer.from(
            `<svg width="${width}" height="${height}"><text x="${width / 10}" y="${height / 2}" font-size="${Math.round(height / 7)}" fill="white" fill-opacity="0.5">© DeepLens 2026</text></svg>`,
          );
          const copies: [string, Buffer][] = [
            [
              'watermark',
              await sharp(original.bytes)
                .composite([{ input: text }])
                .jpeg({ quality: 85 })
                .toBuffer(),
            ],
            [
              'off-centre crop 60%',
              await sharp(original.bytes)
                .extract({
                  left: Math.round(width * 0.4),
                  top: 0,
                  width: Math.round(width * 0.6),
                  height: Math.round(height * 0.6),
                })
                .jpeg({ quality: 85 })
                .toBuffer(),
            ],
          ];
          for (const [name, bytes] of copies) {
            const result = await a.client.searchByImage(bytes, {
              k: 5,
              filename: 'query.jpg',
              type: 'image/jpeg',
            });
            // The typed client's SearchHit predates these two fields; the answer carries them.
            const [first, second] = result.hits as unknown as {
              imageId: string;
              verified: boolean;
              inliers: number;
            }[];
            assert.ok(first, `${name}: a hit`);
            assert.equal(first.imageId, alphaIds[3], `${name}: the original first`);
            assert.equal(first.verified, true, `${name}: verified`);
            assert.ok(first.inliers >= 15, `${name}: ${first.inliers} inliers`);
            t.diagnostic(
              `${name}: ${first.inliers} inliers, search by upload took ${(result as unknown as { tookMs: number }).tookMs} ms in the read API`,
            );
            assert.ok(second === undefined || (!second.verified && typeof second.inliers === 'number'));
          }
        }

        // By id: an edited copy stored in the tenant finds its original first.
        const original = alphaPhotos[6]!;
        const mirrored = await sharp(original.bytes).flop().jpeg({ quality: 80 }).toBuffer();
        const [mirroredId] = await upload(a.client, [
          { name: 'mirrored.jpg', bytes: mirrored, tags: ['alpha', 'copy'] },
        ]);
        await a.client.waitUntilIndexed([mirroredId!], 120_000);
        const similar = await a.client.similar(mirroredId!, { k: 3 });
        assert.equal(similar.hits[0]?.imageId, alphaIds[6], 'the mirrored copy finds its original first');
        const byIdSearch = await a.client.searchById(mirroredId!, { k: 3 });
        assert.equal(byIdSearch.hits[0]?.imageId, alphaIds[6]);

        // Filters: only images with the tag come back.
        const filtered = await a.client.searchById(alphaIds[0]!, { k: 10, filter: { tags: ['odd'] } });
        assert.ok(filtered.hits.length > 0);
        for (const hit of filtered.hits)
          assert.ok(hit.tags.includes('odd'), `${hit.imageId} carries the filter's tag`);

        // Bravo sees only bravo's images, even for a picture both tenants hold.
        const bravoSet = new Set(bravoIds);
        const bravoHits = await b.client.searchByImage(photos[7]!.bytes, {
          filename: 'q.jpg',
          type: 'image/jpeg',
        });
        assert.equal(
          bravoHits.hits[0]?.imageId,
          bravoIds[1],
          'bravo finds its own copy of the shared picture',
        );
        for (const hit of bravoHits.hits) assert.ok(bravoSet.has(hit.imageId));
        // Another tenant's image id answers 404, never its data.
        assert.equal(await status(b.client.getImage(alphaIds[0]!)), 404);
        assert.equal(await status(b.client.similar(alphaIds[0]!)), 404);
        assert.equal(await status(b.client.content(alphaIds[0]!)), 404);
        assert.equal(await status(b.client.searchById(alphaIds[0]!)), 404);

        // The history of an image, from the history projection: the upload (by the user), then
        // the embedder's embedding and thumbnail; another tenant gets 404.
        const historyOfFirst = async () => {
          for (const deadline = Date.now() + 60_000; ;) {
            const events = await a.client.imageHistory(alphaIds[0]!).catch((error: unknown) => {
              if (error instanceof DeepLensApiError && error.status === 404) return [];
              throw error;
            });
            if (events.some((e) => e.type === 'ImageEmbedded')) return events;
            assert.ok(Date.now() < deadline, 'the history shows the embedding');
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
        };
        const history = await historyOfFirst();
        assert.deepEqual(history[0] && [history[0].version, history[0].type, history[0].actor.kind], [
          1,
          'ImageUploaded',
          'user',
        ]);
        assert.deepEqual(history[0]!.changes.tags, { before: null, after: ['alpha', 'even'] });
        const embedded = history.find((e) => e.type === 'ImageEmbedded')!;
        assert.deepEqual(embedded.actor, { kind: 'system', id: 'embedder' });
        assert.deepEqual(embedded.changes.status, { before: 'uploaded', after: 'embedded' });
        assert.deepEqual(
          history.map((e) => e.version),
          history.map((_, i) => i + 1),
          'every version once, in order',
        );
        assert.equal(await status(b.client.imageHistory(alphaIds[0]!)), 404);

        // Browsing, thumbnails, content, usage, duplicates.
        const page = await a.client.listImages({ limit: 5, tag: 'alpha' });
        assert.equal(page.items.length, 5);
        assert.ok(page.nextCursor);
        const thumbnail = await a.client.thumbnail(alphaIds[0]!);
        assert.equal((await sharp(thumbnail).metadata()).format, 'webp');
        const content = await a.client.content(alphaIds[0]!);
        assert.deepEqual(Buffer.from(content.bytes), alphaPhotos[0]!.bytes);
        const usage = await a.client.usage();
        assert.equal(usage.images, 13);
        const duplicates = await a.client.duplicates({ threshold: 0.9 });
        assert.ok(
          duplicates.groups.some(
            (g) =>
              g.images.some((i) => i.imageId === mirroredId) &&
              g.images.some((i) => i.imageId === alphaIds[6]),
          ),
          'the mirrored copy and its original form a duplicate group',
        );

        // All of that came from alpha's own database: it holds alpha's 13 images, and it alone.
        const [own, ...others] = await databases.list();
        assert.ok(own && others.length === 0, "one dedicated database, alpha's");
        const stored = await (
          await databases.pool(own)
        ).anyFirst(sql.type(z.object({ image_id: z.string() }))`
          select image_id from ${sql.identifier([tenantSchemaBase(a.id), 'images'])} where status <> 'deleted'`);
        assert.deepEqual([...stored].sort(), [...alphaIds, mirroredId!].sort());
      },
    );
});

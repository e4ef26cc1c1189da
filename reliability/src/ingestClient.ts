import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';

/** `count` small, distinct JPEGs (a coloured gradient with a seeded pattern each). */
export async function distinctImages(count: number, size = 96): Promise<Buffer[]> {
  const images: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const pixels = Buffer.alloc(size * size * 3);
    let state = i * 7919 + 17;
    for (let p = 0; p < pixels.length; p++) {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      pixels[p] = ((p % (size * 3)) * (1 + (i % 5)) + (state % 64) + i * 13) & 0xff;
    }
    images.push(
      await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
        .jpeg({ quality: 80 })
        .toBuffer(),
    );
  }
  return images;
}

export type UploadOutcome = {
  accepted: Map<string, string>;
  statuses: Map<number, number>;
  attempts: number;
};

/**
 * A well-behaved client: each image is uploaded with an Idempotency-Key derived from its bytes
 * and retried (with backoff) on connection errors and 5xx until it gets a 202 — so a crash or
 * an outage between the client's request and the answer must still end in exactly one image.
 * Every status seen is counted; a request that takes longer than `timeoutMs` counts as a hang.
 */
export async function uploadAll(
  writeUrl: string,
  apiKey: string,
  images: Buffer[],
  options: {
    concurrency: number;
    timeoutMs?: number;
    deadlineMs: number;
    paceMs?: number;
    onStatus?: (status: number) => void;
  },
): Promise<UploadOutcome> {
  const accepted = new Map<string, string>(); // idempotency key → image id
  const statuses = new Map<number, number>();
  let attempts = 0;
  let next = 0;
  const deadline = Date.now() + options.deadlineMs;
  async function one(bytes: Buffer): Promise<void> {
    const key = createHash('sha256').update(bytes).digest('hex').slice(0, 32);
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      attempts++;
      const form = new FormData();
      form.append('file', new Blob([bytes], { type: 'image/jpeg' }), `${key}.jpg`);
      let status = 0;
      try {
        const response = await fetch(`${writeUrl}/v1/images`, {
          method: 'POST',
          headers: { 'x-api-key': apiKey, 'idempotency-key': key },
          body: form,
          signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
        });
        status = response.status;
        const body = (await response.json().catch(() => ({}))) as { images?: { id: string }[] };
        if (status === 202 && body.images?.[0]) {
          accepted.set(key, body.images[0].id);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          options.onStatus?.(status);
          return;
        }
      } catch (error) {
        status = (error as Error).name === 'TimeoutError' ? -1 : 0; // -1: hang, 0: no connection
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      options.onStatus?.(status);
      if (status >= 400 && status < 500 && status !== 409 && status !== 429)
        throw new Error(`upload refused with ${status}`);
      await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5)));
    }
    throw new Error('an upload never got a 202 before the deadline');
  }
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (next < images.length) {
        await one(images[next++]!);
        if (options.paceMs) await sleep(options.paceMs);
      }
    }),
  );
  return { accepted, statuses, attempts };
}

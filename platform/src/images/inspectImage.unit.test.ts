import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import {
  makeGifJavaScriptPolyglot,
  makeImage,
  makeJpeg,
  makePng,
  makePngBomb,
  makeZip,
  truncated,
} from '../testing/hostileImages.ts';
import { inspectImage, sniffImageType } from './inspectImage.ts';

describe('inspectImage', () => {
  it('accepts real images of each common type with their true size', async () => {
    const jpeg = await makeJpeg(64, 48);
    assert.deepEqual(await inspectImage(jpeg), { mime: 'image/jpeg', width: 64, height: 48 });
    assert.deepEqual(await inspectImage(await makePng(30, 20)), { mime: 'image/png', width: 30, height: 20 });
    const webp = await sharp(jpeg).webp().toBuffer();
    assert.deepEqual(await inspectImage(webp), { mime: 'image/webp', width: 64, height: 48 });
    const gif = await sharp(jpeg).gif().toBuffer();
    assert.equal((await inspectImage(gif)).mime, 'image/gif');
    const tiff = await sharp(jpeg).tiff().toBuffer();
    assert.equal((await inspectImage(tiff)).mime, 'image/tiff');
  });

  it('trusts the bytes, not the name: text is refused as unsupported (415)', async () => {
    assert.equal(sniffImageType(Buffer.from('hello, I am a text file')), undefined);
    await assert.rejects(inspectImage(Buffer.from('hello, I am a text file')), {
      status: 415,
      code: 'unsupported_media_type',
    });
  });

  it('refuses a truncated JPEG (422, reason truncated)', async () => {
    const jpeg = await makeJpeg(64, 48);
    await assert.rejects(
      inspectImage(jpeg.subarray(0, Math.floor(jpeg.length / 2))),
      (error: { status: number; detail: { reason: string } }) => {
        assert.equal(error.status, 422);
        assert.match(error.detail.reason, /truncated|corrupt/);
        return true;
      },
    );
  });

  it('refuses truncated AVIF, TIFF and GIF files: boxes, strips and blocks must lie inside the file', async () => {
    for (const format of ['avif', 'tiff', 'gif'] as const) {
      const image = await makeImage(format, 96, 72);
      assert.equal((await inspectImage(image)).mime, `image/${format}`);
      for (const fraction of [0.5, 0.9, 0.99])
        await assert.rejects(
          inspectImage(truncated(image, fraction)),
          { status: 422 },
          `${format} cut to ${fraction}`,
        );
    }
  });

  it('refuses a GIF with script or an archive after its trailer (a polyglot), even one ending in ";"', async () => {
    await assert.rejects(
      inspectImage(await makeGifJavaScriptPolyglot()),
      (error: { detail: { reason: string } }) => {
        assert.equal(error.detail.reason, 'trailing_data');
        return true;
      },
    );
    const gif = await makeImage('gif');
    await assert.rejects(inspectImage(Buffer.concat([gif, makeZip('a.class', 'x')])), { status: 422 });
    assert.equal(
      (await inspectImage(Buffer.concat([gif, Buffer.alloc(4)]))).mime,
      'image/gif',
      'zero padding is fine',
    );
  });

  it('refuses a JPEG followed by a ZIP and a PNG followed by script after IEND (trailing_data)', async () => {
    const jpeg = await makeJpeg(64, 48);
    const png = await makePng(30, 20);
    const withExif = await sharp(jpeg)
      .withMetadata({ exif: { IFD0: { Copyright: 'x' } } })
      .jpeg()
      .toBuffer();
    const progressive = await sharp(jpeg).jpeg({ progressive: true }).toBuffer();
    for (const [name, bytes] of [
      ['jpeg + zip', Buffer.concat([jpeg, makeZip('a.class', 'x')])],
      ['jpeg + script', Buffer.concat([jpeg, Buffer.from('<script>alert(1)</script>')])],
      ['png + script', Buffer.concat([png, Buffer.from('<script>alert(1)</script>')])],
      ['png + zip', Buffer.concat([png, makeZip('a.class', 'x')])],
      ['progressive jpeg + zip', Buffer.concat([progressive, makeZip('a.class', 'x')])],
    ] as const) {
      await assert.rejects(inspectImage(bytes), (error: { status: number; detail: { reason: string } }) => {
        assert.equal(error.status, 422, name);
        assert.equal(error.detail.reason, 'trailing_data', name);
        return true;
      });
    }
    for (const [name, bytes] of [
      ['jpeg', jpeg],
      ['jpeg with EXIF', withExif],
      ['progressive jpeg', progressive],
      ['jpeg + zero padding', Buffer.concat([jpeg, Buffer.alloc(16)])],
      ['png + zero padding', Buffer.concat([png, Buffer.alloc(16)])],
    ] as const) {
      assert.ok((await inspectImage(bytes)).width > 0, name);
    }
  });

  it("answers a corrupt image with our reason code, never the decoder's words", async () => {
    const png = await makePng(30, 20);
    const broken = Buffer.from(png);
    broken.fill(0x41, 16, 40); // the IHDR chunk's fields and CRC
    await assert.rejects(
      inspectImage(broken),
      (error: Error & { status: number; detail: { reason: string } }) => {
        assert.equal(error.status, 422);
        assert.equal(error.detail.reason, 'corrupt');
        assert.equal(error.message, 'the image/png file is corrupt: it cannot be decoded');
        return true;
      },
    );
  });

  it('refuses a PNG declaring 50 000 × 50 000 pixels without decoding it (422, too_many_pixels)', async () => {
    const bomb = makePngBomb();
    assert.ok(bomb.length < 100_000, 'the bomb itself is small');
    await assert.rejects(inspectImage(bomb), (error: { status: number; detail: { reason: string } }) => {
      assert.equal(error.status, 422);
      assert.equal(error.detail.reason, 'too_many_pixels');
      return true;
    });
  });

  it('refuses empty and oversized files', async () => {
    await assert.rejects(inspectImage(Buffer.alloc(0)), { status: 400 });
    await assert.rejects(inspectImage(await makeJpeg(), { maxBytes: 100, maxPixels: 1e6 }), { status: 413 });
  });

  it('refuses corrupt bytes behind a valid signature', async () => {
    const garbage = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.from('garbage garbage garbage'),
    ]);
    await assert.rejects(inspectImage(garbage), { status: 422 });
  });
});

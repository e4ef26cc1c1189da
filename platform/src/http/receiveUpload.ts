import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import busboy from 'busboy';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../errors.ts';

export type UploadedFile = { field: string; filename: string; declaredType: string; bytes: Buffer };
export type ReceivedUpload = { files: UploadedFile[]; fields: Map<string, string> };

export type UploadLimits = {
  maxFiles: number;
  maxFileBytes: number;
  maxFields: number;
  maxFieldBytes: number;
  maxParts: number;
};

export const defaultUploadLimits: UploadLimits = {
  maxFiles: 32,
  maxFileBytes: 25 * 2 ** 20,
  maxFields: 16,
  maxFieldBytes: 16 * 1024,
  maxParts: 64,
};

/**
 * A file name as a label only: the last path segment, without control characters, at most
 * 255 characters. It never becomes a path (objects are stored under their sha256).
 */
export function cleanFilename(raw: string): string {
  const lastSegment = raw.split(/[\\/]/).pop() ?? '';
  const clean = lastSegment
    // eslint-disable-next-line no-control-regex -- control characters are exactly what goes
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim();
  const short = truncateCodePoints(clean, 255);
  return short === '' || short === '.' || short === '..' ? 'unnamed' : short;
}

/**
 * At most `maxUnits` UTF-16 code units of `text`, cut between code points: a surrogate pair is
 * kept whole or dropped whole, never split into an unpaired half (which PostgreSQL and UTF-8
 * cannot store).
 */
export function truncateCodePoints(text: string, maxUnits: number): string {
  if (text.length <= maxUnits) return text;
  let end = 0;
  for (const codePoint of text) {
    if (end + codePoint.length > maxUnits) break;
    end += codePoint.length;
  }
  return text.slice(0, end);
}

/**
 * Streams a multipart body, keeping each file in memory up to `maxFileBytes`: a part over any
 * limit stops the parse at once with a 413, without reading the rest of a hostile body.
 */
export async function receiveUpload(
  contentType: string | undefined,
  body: WebReadableStream<Uint8Array> | null,
  limits: UploadLimits,
): Promise<ReceivedUpload> {
  if (!contentType || !/^multipart\/form-data\b/i.test(contentType)) {
    throw new UnsupportedMediaTypeError('upload images as multipart/form-data', {
      detail: { contentType: contentType ?? null },
    });
  }
  if (!body) throw new ValidationError('the request has no body');
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      // Browsers and fetch send file names as raw UTF-8; busboy's default (latin1) garbles them.
      defParamCharset: 'utf8',
      limits: {
        files: limits.maxFiles,
        fileSize: limits.maxFileBytes,
        fields: limits.maxFields,
        fieldSize: limits.maxFieldBytes,
        parts: limits.maxParts,
      },
    });
  } catch (error) {
    throw new ValidationError('the multipart body is malformed', { cause: error });
  }
  const files: UploadedFile[] = [];
  const fields = new Map<string, string>();
  const source = Readable.fromWeb(body);

  return new Promise<ReceivedUpload>((resolve, reject) => {
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      source.unpipe(parser);
      source.destroy();
      reject(error);
    };
    parser.on('file', (field, stream, info) => {
      const chunks: Buffer[] = [];
      // A body that ends inside a file ("Unexpected end of form") errors the file's stream; with
      // no listener that error would be uncaught and take the whole process down.
      stream.on('error', (error: Error) =>
        fail(new ValidationError(`the multipart body is malformed: ${error.message}`, { cause: error })),
      );
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () =>
        fail(
          new PayloadTooLargeError(
            `${cleanFilename(info.filename ?? field)} is over the ${limits.maxFileBytes}-byte limit per image`,
            {
              detail: { limit: limits.maxFileBytes },
            },
          ),
        ),
      );
      stream.on('end', () => {
        if (!failed)
          files.push({
            field,
            filename: cleanFilename(info.filename ?? field),
            declaredType: info.mimeType,
            bytes: Buffer.concat(chunks),
          });
      });
    });
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated)
        return fail(new PayloadTooLargeError(`field ${name} is over ${limits.maxFieldBytes} bytes`));
      fields.set(name, value);
    });
    parser.on('filesLimit', () =>
      fail(new PayloadTooLargeError(`at most ${limits.maxFiles} files per request`)),
    );
    parser.on('fieldsLimit', () =>
      fail(new PayloadTooLargeError(`at most ${limits.maxFields} fields per request`)),
    );
    parser.on('partsLimit', () =>
      fail(new PayloadTooLargeError(`at most ${limits.maxParts} parts per request`)),
    );
    parser.on('error', (error: Error) =>
      fail(new ValidationError(`the multipart body is malformed: ${error.message}`, { cause: error })),
    );
    source.on('error', (error) => fail(error));
    parser.on('close', () => {
      if (!failed) resolve({ files, fields });
    });
    source.pipe(parser);
  });
}

import { describe, it } from 'node:test';
import type { ImageEvent, ImageUploaded } from '@deeplens/events/imageEvents';
import {
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
} from '@deeplens/platform/errors';
import { deciderSpec } from '../testing/deciderSpec.ts';
import { testContext, testMetadata } from '../testing/testContext.ts';
import type { ImageCommand, TenantSnapshot, UploadImage } from './imageCommands.ts';
import { imageDecider } from './imageDecider.ts';

const { given } = deciderSpec(imageDecider);
const tenantId = 'tenant-1';
const imageId = 'image-1';
const metadata = testContext({ actor: 'system:embedder' });
const sha256 = 'b'.repeat(64);
const limits = { maxImages: 10, maxBytes: 10_000, maxImageBytes: 2_000, requestsPerMinute: 60 };
const activeTenant: TenantSnapshot = { status: 'active', limits };
const at = (version: number, index = 0) => ({
  ...testMetadata(imageId, version, tenantId, index),
  actor: metadata.actor,
});

const image = {
  tenantId,
  imageId,
  objectKey: `sha256/${sha256}`,
  sha256,
  mime: 'image/jpeg',
  bytes: 1_000,
  width: 640,
  height: 480,
  filename: 'cat.jpg',
  tags: ['cat'],
  attributes: { colour: 'black' },
  source: 'http' as const,
};
const upload: UploadImage = {
  type: 'UploadImage',
  data: { ...image, tenant: activeTenant },
  metadata,
};
const uploadWith = (data: Partial<UploadImage['data']>): ImageCommand => ({
  ...upload,
  data: { ...upload.data, ...data },
});
const uploaded: ImageUploaded = { type: 'ImageUploaded', data: image, metadata: at(1) };

const vector = Float32Array.of(0.1, 0.2, 0.3);
const model = { modelId: 'mobilenet-v2', modelVersion: '1.0.0' };
const recordEmbedding: ImageCommand = {
  type: 'RecordImageEmbedding',
  data: { tenantId, imageId, ...model, vector },
  metadata,
};
const embedded: ImageEvent = {
  type: 'ImageEmbedded',
  data: { tenantId, imageId, ...model, dim: 3, vector },
  metadata: at(2),
};
const recordFailure: ImageCommand = {
  type: 'RecordImageEmbeddingFailure',
  data: { tenantId, imageId, ...model, reason: 'corrupt JPEG', retriable: false },
  metadata,
};
const thumbnail = {
  objectKey: `thumbnails/${imageId}-256.webp`,
  width: 256,
  height: 192,
  mime: 'image/webp',
};
const recordThumbnail: ImageCommand = {
  type: 'RecordThumbnail',
  data: { tenantId, imageId, ...thumbnail },
  metadata,
};
const thumbnailed: ImageEvent = {
  type: 'ThumbnailGenerated',
  data: { tenantId, imageId, ...thumbnail },
  metadata: at(2),
};
const update = (data: { tags?: string[]; attributes?: Record<string, string> }): ImageCommand => ({
  type: 'UpdateImageMetadata',
  data: { tenantId, imageId, ...data },
  metadata,
});
const remove: ImageCommand = { type: 'DeleteImage', data: { tenantId, imageId }, metadata };
const deleted: ImageEvent = {
  type: 'ImageDeleted',
  data: { tenantId, imageId, objectKey: image.objectKey, sha256, bytes: 1_000 },
  metadata: at(2),
};

describe('UploadImage', () => {
  it('records the upload', () => {
    given([]).when(upload).then([uploaded]);
  });

  it('records exactly the image fields, whatever else the command data carries at run time', () => {
    // As a caller that spreads a wider object (an intake record, a parsed form) into the command.
    const wider = { ...upload.data, requestId: 'r-1', uploadedBy: 'someone' };
    given([])
      .when({ ...upload, data: wider })
      .then([uploaded]);
  });

  it('accepts an image of exactly the size the plan allows per image', () => {
    given([])
      .when(uploadWith({ bytes: 2_000 }))
      .then([{ ...uploaded, data: { ...image, bytes: 2_000 } }]);
  });

  it('refuses an image id that exists', () => {
    given([uploaded]).when(upload).then(ConflictError);
  });

  it('refuses a suspended tenant', () => {
    given([])
      .when(uploadWith({ tenant: { status: 'suspended', limits } }))
      .then(ConflictError, /suspended/);
  });

  it('answers a deleted tenant with NotFoundError', () => {
    given([])
      .when(uploadWith({ tenant: { status: 'deleted', limits } }))
      .then(NotFoundError);
  });

  it('refuses an image larger than the plan allows per image with 413', () => {
    given([])
      .when(uploadWith({ bytes: 2_001 }))
      .then(PayloadTooLargeError, /2000 bytes per image/);
  });

  it('refuses a malformed sha256', () => {
    given([])
      .when(uploadWith({ sha256: 'B'.repeat(64) }))
      .then(ValidationError);
  });

  it('refuses zero dimensions', () => {
    given([])
      .when(uploadWith({ width: 0 }))
      .then(ValidationError);
  });
});

describe('RecordImageEmbedding', () => {
  it('records the vector with its model and dimension', () => {
    given([uploaded]).when(recordEmbedding).then([embedded]);
  });

  it('records the perceptual hash of the same decode with the vector', () => {
    const perceptualHash = '8f3a00c4e1d2b697';
    given([uploaded])
      .when({ ...recordEmbedding, data: { ...recordEmbedding.data, perceptualHash } })
      .then([{ ...embedded, data: { ...embedded.data, perceptualHash } }]);
  });

  it('refuses a perceptual hash that is not 64 bits in hex, recording nothing', () => {
    for (const perceptualHash of ['8f3a00c4e1d2b6', '8F3A00C4E1D2B697', '8f3a00c4e1d2b69z'])
      given([uploaded])
        .when({ ...recordEmbedding, data: { ...recordEmbedding.data, perceptualHash } })
        .then(ValidationError);
  });

  it('records another model version as a new embedding', () => {
    given([uploaded, embedded])
      .when({ ...recordEmbedding, data: { ...recordEmbedding.data, modelVersion: '2.0.0' } })
      .then([{ ...embedded, data: { ...embedded.data, modelVersion: '2.0.0' }, metadata: at(3) }]);
  });

  it('is a no-op for a model version already recorded', () => {
    given([uploaded, embedded]).when(recordEmbedding).then([]);
  });

  it('records the thumbnail of the same decode in the same decision', () => {
    given([uploaded])
      .when({ ...recordEmbedding, data: { ...recordEmbedding.data, thumbnail } })
      .then([embedded, { ...thumbnailed, metadata: at(3, 1) }]);
  });

  it('records only what is missing when the embedding or the thumbnail is already there', () => {
    const withThumbnail = { ...recordEmbedding, data: { ...recordEmbedding.data, thumbnail } };
    given([uploaded, embedded])
      .when(withThumbnail)
      .then([{ ...thumbnailed, metadata: at(3) }]);
    given([uploaded, { ...thumbnailed, metadata: at(2) }])
      .when(withThumbnail)
      .then([{ ...embedded, metadata: at(3) }]);
    given([uploaded, embedded, { ...thumbnailed, metadata: at(3) }])
      .when(withThumbnail)
      .then([]);
  });

  it('refuses a thumbnail without a size, recording nothing', () => {
    given([uploaded])
      .when({ ...recordEmbedding, data: { ...recordEmbedding.data, thumbnail: { ...thumbnail, width: 0 } } })
      .then(ValidationError);
  });

  it('refuses an image that was never uploaded', () => {
    given([]).when(recordEmbedding).then(NotFoundError);
  });

  it('refuses a deleted image', () => {
    given([uploaded, deleted]).when(recordEmbedding).then(ConflictError);
  });

  it('refuses a vector with NaN', () => {
    given([uploaded])
      .when({ ...recordEmbedding, data: { ...recordEmbedding.data, vector: Float32Array.of(1, NaN) } })
      .then(ValidationError);
  });

  it("answers another tenant's image as not found", () => {
    given([uploaded])
      .when({ ...recordEmbedding, data: { ...recordEmbedding.data, tenantId: 'tenant-2' } })
      .then(NotFoundError);
  });
});

describe('RecordImageEmbeddingFailure', () => {
  it('records the failure and whether a retry may help', () => {
    given([uploaded])
      .when(recordFailure)
      .then([
        {
          type: 'ImageEmbeddingFailed',
          data: { tenantId, imageId, ...model, reason: 'corrupt JPEG', retriable: false },
          metadata: at(2),
        },
      ]);
  });

  it('is a no-op once that model version succeeded', () => {
    given([uploaded, embedded]).when(recordFailure).then([]);
  });

  it('refuses an image that was never uploaded', () => {
    given([]).when(recordFailure).then(NotFoundError);
  });

  it('refuses a deleted image', () => {
    given([uploaded, deleted]).when(recordFailure).then(ConflictError);
  });
});

describe('RecordThumbnail', () => {
  it('records the thumbnail', () => {
    given([uploaded]).when(recordThumbnail).then([thumbnailed]);
  });

  it('is a no-op for a thumbnail already recorded', () => {
    given([uploaded, thumbnailed]).when(recordThumbnail).then([]);
  });

  it('refuses an image that was never uploaded', () => {
    given([]).when(recordThumbnail).then(NotFoundError);
  });

  it('refuses a deleted image', () => {
    given([uploaded, deleted]).when(recordThumbnail).then(ConflictError);
  });
});

describe('UpdateImageMetadata', () => {
  it('replaces the tags and keeps the attributes', () => {
    given([uploaded])
      .when(update({ tags: ['cat', 'sofa'] }))
      .then([
        {
          type: 'ImageMetadataUpdated',
          data: { tenantId, imageId, tags: ['cat', 'sofa'], attributes: { colour: 'black' } },
          metadata: at(2),
        },
      ]);
  });

  it('replaces the attributes and keeps the tags', () => {
    given([uploaded])
      .when(update({ attributes: { colour: 'white' } }))
      .then([
        {
          type: 'ImageMetadataUpdated',
          data: { tenantId, imageId, tags: ['cat'], attributes: { colour: 'white' } },
          metadata: at(2),
        },
      ]);
  });

  it('is a no-op when nothing changes', () => {
    given([uploaded])
      .when(update({ tags: ['cat'], attributes: { colour: 'black' } }))
      .then([]);
  });

  it('refuses an image that was never uploaded', () => {
    given([])
      .when(update({ tags: [] }))
      .then(NotFoundError);
  });

  it('refuses a deleted image', () => {
    given([uploaded, deleted])
      .when(update({ tags: [] }))
      .then(ConflictError);
  });
});

describe('DeleteImage', () => {
  it('deletes the image and says what it frees', () => {
    given([uploaded]).when(remove).then([deleted]);
  });

  it('is a no-op on a deleted image', () => {
    given([uploaded, deleted]).when(remove).then([]);
  });

  it('refuses an image that was never uploaded', () => {
    given([]).when(remove).then(NotFoundError);
  });

  it("answers another tenant's image as not found", () => {
    given([uploaded])
      .when({ ...remove, data: { tenantId: 'tenant-2', imageId } })
      .then(NotFoundError);
  });
});

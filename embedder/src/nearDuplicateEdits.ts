/**
 * The edits a near-duplicate search must see through, as deterministic sharp pipelines. Used by
 * the retrieval-quality test and the model benchmarks to make query images from originals.
 */
import sharp from 'sharp';

export interface NearDuplicateEdit {
  name: string;
  apply(image: Uint8Array): Promise<Buffer>;
}

async function size(image: Uint8Array): Promise<{ width: number; height: number }> {
  const { width, height } = await sharp(image).metadata();
  if (!width || !height) throw new Error('image without dimensions');
  return { width, height };
}

export const nearDuplicateEdits: readonly NearDuplicateEdit[] = [
  {
    name: 'thumbnail 25%',
    async apply(image) {
      const { width } = await size(image);
      return sharp(image)
        .resize({ width: Math.round(width * 0.25) })
        .jpeg({ quality: 90 })
        .toBuffer();
    },
  },
  {
    name: 'centre crop 75%',
    async apply(image) {
      const { width, height } = await size(image);
      const w = Math.round(width * 0.75);
      const h = Math.round(height * 0.75);
      return sharp(image)
        .extract({
          left: Math.floor((width - w) / 2),
          top: Math.floor((height - h) / 2),
          width: w,
          height: h,
        })
        .jpeg({ quality: 90 })
        .toBuffer();
    },
  },
  {
    name: 'brightness ×1.4',
    apply: (image) => sharp(image).modulate({ brightness: 1.4 }).jpeg({ quality: 90 }).toBuffer(),
  },
  {
    name: 'JPEG quality 15',
    apply: (image) => sharp(image).jpeg({ quality: 15 }).toBuffer(),
  },
  {
    name: 'mirror',
    apply: (image) => sharp(image).flop().jpeg({ quality: 90 }).toBuffer(),
  },
  {
    name: 'rotate 12°',
    apply: (image) => sharp(image).rotate(12).jpeg({ quality: 90 }).toBuffer(),
  },
];

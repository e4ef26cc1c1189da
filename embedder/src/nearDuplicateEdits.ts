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

/** A number in [0, 1) that depends only on the image's bytes: edits vary per image, reproducibly. */
function seedOf(image: Uint8Array, salt: number): number {
  let h = 2166136261 ^ salt;
  const step = Math.max(1, Math.floor(image.length / 4096));
  for (let i = 0; i < image.length; i += step) h = Math.imul(h ^ image[i]!, 16777619);
  return (h >>> 0) / 2 ** 32;
}

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** A semi-transparent text watermark: one large diagonal line and a small signature. */
function watermarkSvg(width: number, height: number): Buffer {
  const big = Math.round(Math.min(width, height) / 7);
  const small = Math.max(10, Math.round(big / 3));
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
      <g font-family="DejaVu Sans, sans-serif" font-weight="bold">
        <text x="50%" y="50%" font-size="${big}" fill="white" fill-opacity="0.55" stroke="black"
          stroke-opacity="0.35" stroke-width="${Math.max(1, big / 30)}" text-anchor="middle"
          dominant-baseline="middle" transform="rotate(-25 ${width / 2} ${height / 2})">${escapeXml('© SAMPLE')}</text>
        <text x="${width - small}" y="${height - small}" font-size="${small}" fill="white"
          fill-opacity="0.8" text-anchor="end">${escapeXml('photo by someone · all rights reserved')}</text>
      </g>
    </svg>`,
  );
}

/** An opaque coloured logo (badge with initials) of about a fifth of the image's width. */
function logoSvg(side: number): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}" viewBox="0 0 100 100">
      <circle cx="50" cy="50" r="48" fill="#e4572e" stroke="white" stroke-width="4"/>
      <rect x="22" y="58" width="56" height="14" rx="4" fill="#ffc914"/>
      <text x="50" y="50" font-family="DejaVu Sans, sans-serif" font-size="34" font-weight="bold"
        fill="white" text-anchor="middle">DL</text>
    </svg>`,
  );
}

/** A UI-like screen (title bar, side bar, buttons) on which a screenshot shows the image. */
function screenSvg(width: number, height: number): Buffer {
  const bar = Math.round(height * 0.06);
  const side = Math.round(width * 0.18);
  const items = Array.from(
    { length: 8 },
    (_, i) =>
      `<rect x="${side * 0.1}" y="${bar * 2 + i * bar * 1.3}" width="${side * 0.8}" height="${bar * 0.7}" rx="4" fill="#d5d8de"/>`,
  ).join('');
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
      <rect width="${width}" height="${height}" fill="#f3f4f7"/>
      <rect width="${width}" height="${bar}" fill="#2d3240"/>
      <circle cx="${bar * 0.6}" cy="${bar / 2}" r="${bar / 5}" fill="#ff5f57"/>
      <circle cx="${bar * 1.2}" cy="${bar / 2}" r="${bar / 5}" fill="#febc2e"/>
      <circle cx="${bar * 1.8}" cy="${bar / 2}" r="${bar / 5}" fill="#28c840"/>
      <text x="${width / 2}" y="${bar * 0.68}" font-family="DejaVu Sans, sans-serif" font-size="${bar * 0.45}"
        fill="#e8e8e8" text-anchor="middle">Image viewer — holiday.jpg</text>
      <rect y="${bar}" width="${side}" height="${height - bar}" fill="#e6e8ec"/>${items}
      <rect x="${side}" y="${height - bar}" width="${width - side}" height="${bar}" fill="#dfe2e7"/>
    </svg>`,
  );
}

/**
 * The edits users make before they search for the original, one per class: colour, greyscale,
 * blur, a small heavily re-encoded copy, crops not centred, padding, text and logo overlays,
 * a flip, a small rotation, a screenshot with a frame. Deterministic per image (anything that
 * varies, such as the crop's corner or the rotation's sign, follows from the image's bytes).
 * The development set (`bench/quality.ts`) and the floor test query with these.
 */
export const userEdits: readonly NearDuplicateEdit[] = [
  {
    name: 'hue shift',
    apply: (image) => sharp(image).modulate({ hue: 60, saturation: 1.3 }).jpeg({ quality: 88 }).toBuffer(),
  },
  {
    name: 'brightness+contrast',
    apply: (image) =>
      sharp(image).modulate({ brightness: 1.15 }).linear(1.3, -30).jpeg({ quality: 88 }).toBuffer(),
  },
  {
    name: 'greyscale',
    apply: (image) => sharp(image).greyscale().jpeg({ quality: 88 }).toBuffer(),
  },
  {
    name: 'blur',
    apply: (image) => sharp(image).blur(3).jpeg({ quality: 88 }).toBuffer(),
  },
  {
    name: 'small WebP',
    apply: (image) => sharp(image).resize({ width: 180 }).webp({ quality: 25 }).toBuffer(),
  },
  {
    name: 'small JPEG q20',
    apply: async (image) => {
      const { width } = await size(image);
      return sharp(image)
        .resize({ width: Math.round(width * 0.3) })
        .jpeg({ quality: 20 })
        .toBuffer();
    },
  },
  {
    name: 'off-centre crop 60%',
    async apply(image) {
      const { width, height } = await size(image);
      const w = Math.round(width * 0.6);
      const h = Math.round(height * 0.6);
      // One of the four corners' sides, chosen per image, never the middle.
      const corner = Math.floor(seedOf(image, 1) * 4);
      const left = corner % 2 === 0 ? Math.round(width * 0.05) : width - w - Math.round(width * 0.05);
      const top = corner < 2 ? Math.round(height * 0.05) : height - h - Math.round(height * 0.05);
      return sharp(image).extract({ left, top, width: w, height: h }).jpeg({ quality: 88 }).toBuffer();
    },
  },
  {
    name: 'letterbox',
    async apply(image) {
      const { width, height } = await size(image);
      // Black bars of 15% each across the short side: top and bottom of a landscape image.
      const landscape = width >= height;
      const barY = landscape ? Math.round(height * 0.15) : 0;
      const barX = landscape ? 0 : Math.round(width * 0.15);
      return sharp(image)
        .extend({ left: barX, right: barX, top: barY, bottom: barY, background: '#000000' })
        .jpeg({ quality: 88 })
        .toBuffer();
    },
  },
  {
    name: 'text watermark',
    async apply(image) {
      const { width, height } = await size(image);
      return sharp(image)
        .composite([{ input: watermarkSvg(width, height) }])
        .jpeg({ quality: 88 })
        .toBuffer();
    },
  },
  {
    name: 'logo overlay',
    async apply(image) {
      const { width, height } = await size(image);
      const side = Math.round(Math.min(width, height) * 0.22);
      const margin = Math.round(side * 0.15);
      return sharp(image)
        .composite([{ input: logoSvg(side), left: width - side - margin, top: margin }])
        .jpeg({ quality: 88 })
        .toBuffer();
    },
  },
  {
    name: 'horizontal flip',
    apply: (image) => sharp(image).flop().jpeg({ quality: 88 }).toBuffer(),
  },
  {
    name: 'rotate ±7°',
    apply: (image) =>
      sharp(image)
        .rotate(seedOf(image, 2) < 0.5 ? -7 : 7, { background: '#ffffff' })
        .jpeg({ quality: 88 })
        .toBuffer(),
  },
  {
    name: 'framed screenshot',
    async apply(image) {
      const { width, height } = await size(image);
      const screen = { width: 1280, height: 800 };
      const side = Math.round(screen.width * 0.18);
      const bar = Math.round(screen.height * 0.06);
      const area = { width: screen.width - side - 40, height: screen.height - 2 * bar - 40 };
      const scale = Math.min(area.width / width, area.height / height);
      const shown = await sharp(image)
        .resize(Math.round(width * scale), Math.round(height * scale))
        .toBuffer({ resolveWithObject: true });
      return sharp(screenSvg(screen.width, screen.height))
        .composite([
          {
            input: shown.data,
            left: side + 20 + Math.floor((area.width - shown.info.width) / 2),
            top: bar + 20 + Math.floor((area.height - shown.info.height) / 2),
          },
        ])
        .png()
        .toBuffer();
    },
  },
];

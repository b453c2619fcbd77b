// Image decoding for thumbnails with sharp (libvips): format sniffing by magic bytes (only JPEG,
// PNG, GIF and WebP ever reach a decoder, whatever the uploader claimed), probing the size, and
// rendering crop/scale thumbnails, animated ones as WebP. libvips is chosen over ImageMagick-style
// wrappers because it is maintained, streams images in tiles (low memory on large inputs), refuses
// images above a pixel limit before decoding them, and sharp ships it prebuilt.
import { open } from 'node:fs/promises';
import type sharpModule from 'sharp';
import { croppedSize, scaledSize, type ImageFormat, type SourceImage, type ThumbnailSpec, ANIMATED_THUMBNAIL_TYPE } from './thumbnail-plan.js';

let loadingSharp: Promise<typeof sharpModule> | undefined;

/**
 * sharp, loaded on the first image rather than at start: libvips adds ~10 MB to the resident
 * memory of a server that may never thumbnail anything.
 */
function loadSharp(): Promise<typeof sharpModule> {
  return (loadingSharp ??= import('sharp').then(({ default: sharp }) => {
    // libvips keeps recently opened input files open by default; media files are read once, and an
    // open descriptor would keep a deleted file's space in use.
    sharp.cache({ files: 0 });
    return sharp;
  }));
}

/** The format of an image by its first bytes, or undefined when it is none we decode. */
export function sniffImageFormat(head: Uint8Array): ImageFormat | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (
    head.length >= 8 &&
    head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47 &&
    head[4] === 0x0d && head[5] === 0x0a && head[6] === 0x1a && head[7] === 0x0a
  ) {
    return 'png';
  }
  if (head.length >= 6) {
    const sig = String.fromCharCode(...head.subarray(0, 6));
    if (sig === 'GIF87a' || sig === 'GIF89a') return 'gif';
  }
  if (head.length >= 12) {
    const riff = String.fromCharCode(...head.subarray(0, 4));
    const webp = String.fromCharCode(...head.subarray(8, 12));
    if (riff === 'RIFF' && webp === 'WEBP') return 'webp';
  }
  return undefined;
}

async function readHead(path: string, n: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * What the file is: undefined when it is not an image we thumbnail (wrong magic bytes, or a header
 * the decoder rejects). Only the header is read, so this is cheap even for huge images.
 */
export async function probeImage(path: string): Promise<SourceImage | undefined> {
  const format = sniffImageFormat(await readHead(path, 16));
  if (!format) return undefined;
  const sharp = await loadSharp();
  try {
    const m = await sharp(path, { limitInputPixels: false, animated: true }).metadata();
    if (m.format !== format) return undefined;
    const frames = m.pages ?? 1;
    const frameHeight = m.pageHeight ?? m.height;
    if (!m.width || !frameHeight) return undefined;
    // EXIF orientations 5-8 swap width and height once the image is turned upright.
    const turned = (m.orientation ?? 1) >= 5;
    return { format, width: turned ? frameHeight : m.width, height: turned ? m.width : frameHeight, frames };
  } catch {
    return undefined;
  }
}

export interface RenderOptions {
  /** Pixel limit of the decoder (max_image_pixels); an animated image counts all its frames. */
  maxPixels: number;
}

/**
 * Renders one thumbnail of the image at `path` (already probed as `src`). Animated output (WebP)
 * when `spec.type` is WebP and the source is animated and small enough in total; otherwise the first
 * frame, upright (EXIF orientation applied), as JPEG or PNG.
 */
export async function renderThumbnail(path: string, src: SourceImage, spec: ThumbnailSpec, opts: RenderOptions): Promise<Buffer> {
  const animated = spec.type === ANIMATED_THUMBNAIL_TYPE && src.frames > 1 && src.width * src.height * src.frames <= opts.maxPixels;
  const size = spec.method === 'crop' ? croppedSize(src.width, src.height, spec.width, spec.height) : scaledSize(src.width, src.height, spec.width, spec.height);
  const sharp = await loadSharp();
  let img = sharp(path, {
    limitInputPixels: animated ? src.width * src.height * src.frames : opts.maxPixels,
    animated,
    failOn: 'error',
  });
  if (!animated) img = img.rotate();
  img = img.resize(size.width, size.height, { fit: spec.method === 'crop' ? 'cover' : 'fill', position: 'centre' });
  switch (spec.type) {
    case 'image/jpeg':
      return img.flatten({ background: '#ffffff' }).jpeg({ quality: 80 }).toBuffer();
    case 'image/webp':
      return img.webp({ quality: 80 }).toBuffer();
    default:
      return img.png().toBuffer();
  }
}

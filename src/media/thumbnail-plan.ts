// Pure thumbnail arithmetic (client-server "Thumbnails"): the output type for a source format, the
// size of a "scale" and of a "crop" thumbnail (never enlarged), the thumbnails the configured sizes
// give for one image, and the choice of the closest one for a request (Synapse's ordering:
// aspect ratio, then "at least as large", then size difference, then content type).

export type ThumbnailMethod = 'crop' | 'scale';

/** Image formats we decode for thumbnails: a deliberately short list (every decoder is attack surface). */
export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp';

export interface ThumbnailSize {
  width: number;
  height: number;
  method: ThumbnailMethod;
}

/** One thumbnail: nominal size (the key it is stored and chosen by), method and output content type. */
export interface ThumbnailSpec extends ThumbnailSize {
  type: string;
}

export interface SourceImage {
  format: ImageFormat;
  /** Width and height after EXIF orientation, of one frame. */
  width: number;
  height: number;
  frames: number;
}

export const ANIMATED_THUMBNAIL_TYPE = 'image/webp';

/** JPEG thumbnails for JPEG sources, PNG (which keeps transparency) for the others, as Synapse. */
export function staticThumbnailType(format: ImageFormat): string {
  return format === 'jpeg' ? 'image/jpeg' : 'image/png';
}

/** Whether the source can give an animated thumbnail. */
export function isAnimated(src: SourceImage): boolean {
  return src.frames > 1 && (src.format === 'gif' || src.format === 'webp');
}

/**
 * "scale": the largest size with the source's aspect ratio inside maxWidth x maxHeight, and never
 * larger than the source ("Servers MUST NOT upscale thumbnails"); at least 1x1.
 */
export function scaledSize(srcWidth: number, srcHeight: number, maxWidth: number, maxHeight: number): { width: number; height: number } {
  let w: number;
  let h: number;
  if (maxWidth * srcHeight < maxHeight * srcWidth) {
    w = maxWidth;
    h = Math.floor((maxWidth * srcHeight) / srcWidth);
  } else {
    w = Math.floor((maxHeight * srcWidth) / srcHeight);
    h = maxHeight;
  }
  return { width: Math.max(1, Math.min(w, srcWidth)), height: Math.max(1, Math.min(h, srcHeight)) };
}

/**
 * "crop": the output size for a crop of `width x height`. When the source is large enough this is
 * exactly the requested size (scaled down to cover it, then centred and cut). When it is smaller in
 * either direction, the requested aspect ratio is cut from the source at its own resolution, since
 * thumbnails are never enlarged.
 */
export function croppedSize(srcWidth: number, srcHeight: number, width: number, height: number): { width: number; height: number } {
  if (width <= srcWidth && height <= srcHeight) return { width, height };
  // The largest box of ratio width:height inside the source.
  if (srcWidth * height >= srcHeight * width) {
    return { width: Math.max(1, Math.min(srcWidth, Math.round((srcHeight * width) / height))), height: srcHeight };
  }
  return { width: srcWidth, height: Math.max(1, Math.min(srcHeight, Math.round((srcWidth * height) / width))) };
}

/**
 * The thumbnails the configured sizes give for this image. Crop sizes keep their nominal size;
 * scale sizes take the scaled size of this image; a crop whose size equals a scaled size is dropped
 * for it. Animated sources also get an animated (WebP) variant of each.
 */
export function candidateThumbnails(sizes: readonly ThumbnailSize[], src: SourceImage): ThumbnailSpec[] {
  const staticType = staticThumbnailType(src.format);
  const byDims = new Map<string, ThumbnailSpec>();
  for (const s of sizes) {
    if (s.method === 'crop') {
      const key = `${s.width}x${s.height}`;
      if (!byDims.has(key)) byDims.set(key, { width: s.width, height: s.height, method: 'crop', type: staticType });
    } else {
      const d = scaledSize(src.width, src.height, s.width, s.height);
      byDims.set(`${d.width}x${d.height}`, { width: d.width, height: d.height, method: 'scale', type: staticType });
    }
  }
  const out = [...byDims.values()];
  if (isAnimated(src)) {
    for (const t of [...out]) out.push({ ...t, type: ANIMATED_THUMBNAIL_TYPE });
  }
  return out;
}

/** The content type a request prefers: animated WebP when it asked for animation, else PNG (as Synapse). */
export function desiredThumbnailType(animated: boolean): string {
  return animated ? ANIMATED_THUMBNAIL_TYPE : 'image/png';
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]!;
  }
  return false;
}

/**
 * Picks the candidate closest to the request. Among candidates of the requested method, those at
 * least as wide or as tall as asked are preferred; within them the order is, for crop: aspect
 * ratio difference, not covering the request, size difference, type mismatch; for scale: size
 * difference, type mismatch. Ties keep the earlier candidate. With no candidate of the requested
 * method, the other method's candidates are used (Synapse answers 404 there; an image is better).
 */
export function selectThumbnail(
  desired: { width: number; height: number; method: ThumbnailMethod; type: string },
  candidates: readonly ThumbnailSpec[],
): ThumbnailSpec | undefined {
  const pick = (method: ThumbnailMethod): ThumbnailSpec | undefined => {
    const dw = desired.width;
    const dh = desired.height;
    let best: { score: number[]; t: ThumbnailSpec; large: boolean } | undefined;
    for (const t of candidates) {
      if (t.method !== method) continue;
      const large = t.width >= dw || t.height >= dh;
      const sizeDiff = Math.abs((dw - t.width) * (dh - t.height));
      const typeMismatch = t.type === desired.type ? 0 : 1;
      const score =
        method === 'crop'
          ? [Math.abs(dw * t.height - dh * t.width), dw <= t.width && dh <= t.height ? 0 : 1, sizeDiff, typeMismatch]
          : [sizeDiff, typeMismatch];
      if (!best || (large && !best.large) || (large === best.large && lexLess(score, best.score))) best = { score, t, large };
    }
    return best?.t;
  };
  return pick(desired.method) ?? pick(desired.method === 'crop' ? 'scale' : 'crop');
}

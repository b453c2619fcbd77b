// Thumbnails: PNG, JPEG and GIF sources at the sizes clients ask for (closest configured size, and
// exact sizes with dynamic_thumbnails), decoded with sharp to check dimensions and format; no
// enlargement; EXIF orientation; animated WebP on request; non-images, disguised files and images
// over the pixel limit refused; parameters checked; each thumbnail generated once; remote media
// through a RemoteMediaFetcher.
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { renderThumbnail } from '../../src/media/image.js';
import type { RemoteMediaFetcher } from '../../src/media/repository.js';
import { mediaHarness, SERVER, type MediaHarness, type MediaRes } from './media-harness.js';

vi.mock('../../src/media/image.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../src/media/image.js')>();
  return { ...orig, renderThumbnail: vi.fn(orig.renderThumbnail) };
});
const renderSpy = vi.mocked(renderThumbnail);

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 200, g: 30, b: 30, alpha: 0.5 } } }).png().toBuffer();
}
async function jpeg(width: number, height: number, orientation?: number): Promise<Buffer> {
  const img = sharp({ create: { width, height, channels: 3, background: { r: 10, g: 120, b: 200 } } }).jpeg();
  return (orientation ? img.withMetadata({ orientation }) : img).toBuffer();
}
/** An animated GIF of `frames` frames of width x height. */
async function gif(width: number, height: number, frames: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * frames * 4);
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < width * height; i++) {
      const o = (f * width * height + i) * 4;
      raw[o] = (f * 90) % 256;
      raw[o + 1] = i % 256;
      raw[o + 3] = 255;
    }
  }
  return sharp(raw, { raw: { width, height: height * frames, channels: 4, pageHeight: height } }).gif().toBuffer();
}

async function decoded(r: MediaRes) {
  const m = await sharp(r.raw, { animated: true }).metadata();
  return { format: m.format, width: m.width, height: m.pageHeight ?? m.height, pages: m.pages ?? 1 };
}

let h: MediaHarness;
let alice: string;
const thumb = (mediaId: string, q: string) => `/_matrix/client/v1/media/thumbnail/${SERVER}/${mediaId}?${q}`;

describe('thumbnails of the configured sizes', () => {
  beforeEach(async () => {
    h = await mediaHarness();
    alice = await h.register('alice');
    renderSpy.mockClear();
  });
  afterEach(async () => {
    await h.close();
  });

  it('crops and scales a PNG to the closest configured size, as PNG, inline', async () => {
    const { mediaId } = await h.upload(alice, await png(400, 300), 'image/png');
    const crop = await h.req('GET', thumb(mediaId, 'width=96&height=96&method=crop'), { token: alice });
    expect(crop.status).toBe(200);
    expect(crop.headers['content-type']).toBe('image/png');
    expect(crop.headers['content-disposition']).toBe('inline; filename=thumbnail.png');
    expect(await decoded(crop)).toEqual({ format: 'png', width: 96, height: 96, pages: 1 });

    const scale = await h.req('GET', thumb(mediaId, 'width=320&height=240&method=scale'), { token: alice });
    expect(await decoded(scale)).toMatchObject({ format: 'png', width: 320, height: 240 });
    // Asking for 50x50 crop gives the 96x96 one: never smaller than asked when a larger one exists.
    const between = await h.req('GET', thumb(mediaId, 'width=50&height=50&method=crop'), { token: alice });
    expect(await decoded(between)).toMatchObject({ width: 96, height: 96 });
    // method defaults to scale.
    const dflt = await h.req('GET', `/_matrix/media/v3/thumbnail/${SERVER}/${mediaId}?width=640&height=480`);
    expect(dflt.status).toBe(200);
    expect(await decoded(dflt)).toMatchObject({ width: 400, height: 300 });
  });

  it('thumbnails a JPEG as JPEG, keeping the aspect ratio when scaling', async () => {
    const { mediaId } = await h.upload(alice, await jpeg(1000, 500), 'image/jpeg');
    const r = await h.req('GET', `/_matrix/media/r0/thumbnail/${SERVER}/${mediaId}?width=640&height=480&method=scale`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('image/jpeg');
    expect(await decoded(r)).toEqual({ format: 'jpeg', width: 640, height: 320, pages: 1 });
    const small = await h.req('GET', thumb(mediaId, 'width=32&height=32&method=crop'), { token: alice });
    expect(await decoded(small)).toMatchObject({ format: 'jpeg', width: 32, height: 32 });
  });

  it('never enlarges a small image', async () => {
    const { mediaId } = await h.upload(alice, await png(20, 10), 'image/png');
    const scale = await h.req('GET', thumb(mediaId, 'width=800&height=600&method=scale'), { token: alice });
    expect(await decoded(scale)).toMatchObject({ width: 20, height: 10 });
    const crop = await h.req('GET', thumb(mediaId, 'width=96&height=96&method=crop'), { token: alice });
    // The requested square, cut from the image at its own size.
    expect(await decoded(crop)).toMatchObject({ width: 10, height: 10 });
  });

  it('turns a JPEG upright by its EXIF orientation', async () => {
    const { mediaId } = await h.upload(alice, await jpeg(40, 30, 6), 'image/jpeg');
    const r = await h.req('GET', thumb(mediaId, 'width=320&height=240&method=scale'), { token: alice });
    expect(r.status).toBe(200);
    expect(await decoded(r)).toMatchObject({ width: 30, height: 40 });
  });

  it('gives an animated WebP of an animated GIF only when asked, a still PNG otherwise', async () => {
    const { mediaId } = await h.upload(alice, await gif(200, 100, 3), 'image/gif');
    const animated = await h.req('GET', thumb(mediaId, 'width=96&height=96&method=crop&animated=true'), { token: alice });
    expect(animated.status).toBe(200);
    expect(animated.headers['content-type']).toBe('image/webp');
    expect(await decoded(animated)).toEqual({ format: 'webp', width: 96, height: 96, pages: 3 });
    for (const q of ['width=96&height=96&method=crop&animated=false', 'width=96&height=96&method=crop']) {
      const still = await h.req('GET', thumb(mediaId, q), { token: alice });
      expect(still.headers['content-type'], q).toBe('image/png');
      expect(await decoded(still), q).toEqual({ format: 'png', width: 96, height: 96, pages: 1 });
    }
    // A still image asked for animated gets a still thumbnail.
    const stillSrc = await h.upload(alice, await png(100, 100), 'image/png');
    const s = await h.req('GET', thumb(stillSrc.mediaId, 'width=32&height=32&method=crop&animated=true'), { token: alice });
    expect(s.headers['content-type']).toBe('image/png');
  });

  it('refuses to thumbnail text, disguised files and SVG with 400 M_UNKNOWN', async () => {
    const text = await h.upload(alice, 'just some words', 'text/plain');
    const disguised = await h.upload(alice, '<html><body>hi</body></html>', 'image/png');
    const svg = await h.upload(alice, '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', 'image/svg+xml');
    const truncated = await h.upload(alice, (await png(50, 50)).subarray(0, 40), 'image/png');
    for (const { mediaId } of [text, disguised, svg, truncated]) {
      const r = await h.req('GET', thumb(mediaId, 'width=32&height=32&method=crop'), { token: alice });
      expect(r.status).toBe(400);
      expect(r.json.errcode).toBe('M_UNKNOWN');
    }
  });

  it('checks the query parameters', async () => {
    const { mediaId } = await h.upload(alice, await png(50, 50), 'image/png');
    const cases: [string, string][] = [
      ['height=32', 'M_MISSING_PARAM'],
      ['width=32', 'M_MISSING_PARAM'],
      ['width=abc&height=32', 'M_INVALID_PARAM'],
      ['width=0&height=32', 'M_INVALID_PARAM'],
      ['width=-5&height=32', 'M_INVALID_PARAM'],
      ['width=32&height=99999999', 'M_INVALID_PARAM'],
      ['width=32&height=32&method=stretch', 'M_INVALID_PARAM'],
      ['width=32&height=32&animated=maybe', 'M_INVALID_PARAM'],
    ];
    for (const [q, errcode] of cases) {
      const r = await h.req('GET', thumb(mediaId, q), { token: alice });
      expect(r.status, q).toBe(400);
      expect(r.json.errcode, q).toBe(errcode);
    }
    const missing = await h.req('GET', thumb('abcdefghijklmnopqrstuvwx', 'width=32&height=32'), { token: alice });
    expect(missing.status).toBe(404);
  });

  it('generates each thumbnail once, even for concurrent requests, and serves it from disk after', async () => {
    const { mediaId } = await h.upload(alice, await png(400, 300), 'image/png');
    const rs = await Promise.all(Array.from({ length: 6 }, () => h.req('GET', thumb(mediaId, 'width=96&height=96&method=crop'), { token: alice })));
    expect(rs.every((r) => r.status === 200 && r.raw.equals(rs[0]!.raw))).toBe(true);
    expect(renderSpy).toHaveBeenCalledTimes(1);
    const later = await h.req('GET', `/_matrix/media/v3/thumbnail/${SERVER}/${mediaId}?width=90&height=90&method=crop`);
    expect(later.raw.equals(rs[0]!.raw)).toBe(true);
    expect(renderSpy).toHaveBeenCalledTimes(1);
    const rows = h.db.prepare('SELECT width, height, method, type FROM media_thumbnails WHERE media_id = ?').all(mediaId);
    expect(rows).toEqual([{ width: 96, height: 96, method: 'crop', type: 'image/png' }]);
  });
});

describe('dynamic thumbnails and limits', () => {
  afterEach(async () => {
    await h.close();
  });

  it('with dynamic_thumbnails, makes exactly the requested size', async () => {
    h = await mediaHarness({ dynamic_thumbnails: true });
    alice = await h.register('alice');
    const { mediaId } = await h.upload(alice, await png(400, 300), 'image/png');
    const crop = await h.req('GET', thumb(mediaId, 'width=100&height=50&method=crop'), { token: alice });
    expect(await decoded(crop)).toMatchObject({ width: 100, height: 50 });
    const scale = await h.req('GET', thumb(mediaId, 'width=100&height=100&method=scale'), { token: alice });
    expect(await decoded(scale)).toMatchObject({ width: 100, height: 75 });
    const jpg = await h.upload(alice, await jpeg(300, 300), 'image/jpeg');
    const j = await h.req('GET', thumb(jpg.mediaId, 'width=77&height=33&method=crop'), { token: alice });
    expect(await decoded(j)).toMatchObject({ format: 'jpeg', width: 77, height: 33 });
  });

  it('refuses images over max_image_pixels with 413 M_TOO_LARGE', async () => {
    h = await mediaHarness({ max_image_pixels: 10_000 });
    alice = await h.register('alice');
    const big = await h.upload(alice, await png(200, 100), 'image/png');
    const r = await h.req('GET', thumb(big.mediaId, 'width=32&height=32&method=crop'), { token: alice });
    expect(r.status).toBe(413);
    expect(r.json.errcode).toBe('M_TOO_LARGE');
    // Under the limit is fine.
    const ok = await h.upload(alice, await png(100, 100), 'image/png');
    expect((await h.req('GET', thumb(ok.mediaId, 'width=32&height=32&method=crop'), { token: alice })).status).toBe(200);
  });
});

describe('remote media through a RemoteMediaFetcher', () => {
  afterEach(async () => {
    await h.close();
  });

  it('fetches remote media once, caches it, and thumbnails it', async () => {
    const image = await png(300, 200);
    const calls: string[] = [];
    const fetcher: RemoteMediaFetcher = {
      async fetch(origin, mediaId, opts) {
        calls.push(`${origin}/${mediaId}`);
        expect(opts.maxBytes).toBe(50 * 1024 * 1024);
        if (mediaId === 'missing') return null;
        if (mediaId === 'broken') throw new Error('connection refused');
        if (mediaId === 'huge') return { stream: Readable.from([Buffer.alloc(10)]), contentType: 'image/png', contentLength: 51 * 1024 * 1024 };
        return { stream: Readable.from([image]), contentType: 'image/png', fileName: 'remote pic.png' };
      },
    };
    h = await mediaHarness({}, { remoteFetcher: fetcher });
    alice = await h.register('alice');
    const url = '/_matrix/client/v1/media/download/remote.example:8448/abcdefgh';
    const [a, b] = await Promise.all([h.req('GET', url, { token: alice }), h.req('GET', url, { token: alice })]);
    expect(a.status).toBe(200);
    expect(a.raw.equals(image)).toBe(true);
    expect(b.raw.equals(image)).toBe(true);
    expect(a.headers['content-disposition']).toBe("inline; filename*=utf-8''remote%20pic.png");
    expect(calls).toEqual(['remote.example:8448/abcdefgh']);
    const t = await h.req('GET', '/_matrix/media/v3/thumbnail/remote.example:8448/abcdefgh?width=32&height=32&method=crop');
    expect(await decoded(t)).toMatchObject({ width: 32, height: 32 });
    expect(calls).toHaveLength(1);

    // allow_remote=false never fetches.
    const noFetch = await h.req('GET', '/_matrix/media/v3/download/remote.example/other1?allow_remote=false');
    expect(noFetch.status).toBe(404);
    expect(calls).toHaveLength(1);
    expect((await h.req('GET', '/_matrix/media/v3/download/remote.example/missing')).status).toBe(404);
    const broken = await h.req('GET', '/_matrix/media/v3/download/remote.example/broken');
    expect(broken.status).toBe(502);
    const huge = await h.req('GET', '/_matrix/media/v3/download/remote.example/huge');
    expect(huge.status).toBe(502);
    expect(huge.json.errcode).toBe('M_TOO_LARGE');
  });
});

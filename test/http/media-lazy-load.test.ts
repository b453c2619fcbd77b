// sharp (libvips, ~10 MB resident) is loaded on the first image probed, not when the media
// code is imported at start.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const sharpLoaded = () => Object.keys(require.cache).some((p) => p.includes('/node_modules/sharp/'));

describe('media image decoding', () => {
  it('loads sharp only when the first image is probed', async () => {
    expect(sharpLoaded()).toBe(false);
    const { probeImage, sniffImageFormat } = await import('../../src/media/image.js');
    await import('../../src/media/index.js');
    expect(sharpLoaded()).toBe(false);

    const dir = mkdtempSync(join(tmpdir(), 'media-lazy-'));
    try {
      // Not an image: answered from the magic bytes, still without sharp.
      writeFileSync(join(dir, 'text'), 'hello, not an image');
      expect(await probeImage(join(dir, 'text'))).toBeUndefined();
      expect(sharpLoaded()).toBe(false);

      // A 1x1 PNG: now sharp is needed, and loaded.
      const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
      expect(sniffImageFormat(png)).toBe('png');
      writeFileSync(join(dir, 'pixel.png'), png);
      expect(await probeImage(join(dir, 'pixel.png'))).toEqual({ format: 'png', width: 1, height: 1, frames: 1 });
      expect(sharpLoaded()).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

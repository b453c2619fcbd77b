// Media benchmark: upload and download throughput of a 50 MB file through a real listening server
// (HTTP on 127.0.0.1), and thumbnail generation time for a 4000x3000 JPEG made with sharp here.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { parseConfig } from '../src/config/load.js';
import { generateSigningKey } from '../src/core/crypto/ed25519.js';
import { buildApp } from '../src/http/app.js';
import { createMediaService } from '../src/media/index.js';
import { probeImage, renderThumbnail } from '../src/media/image.js';
import { openDatabase } from '../src/store/db.js';
import { createUsersService, usersOptionsFromConfig } from '../src/users/service.js';
import { medianMs, type Report } from './lib.js';

const FILE_MB = 50;

/** One request; with `discard`, the response body is only counted (as a client saving to disk would not keep it in memory). */
function httpRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
  discard = false,
): Promise<{ status: number; body: Buffer; length: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (c: Buffer) => {
        length += c.length;
        if (!discard) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), length }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'media-bench-'));
  const config = parseConfig(
    { server_name: 'bench.local', enable_registration: true, rate_limiting: false, media_store_path: join(dir, 'media'), max_upload_size: '100M', dynamic_thumbnails: true },
    { cwd: dir },
  ).config;
  const db = openDatabase(join(dir, 'homeserver.db'));
  const users = createUsersService(usersOptionsFromConfig(db, config));
  const media = createMediaService({ db, config });
  const app = buildApp({ config, serverKeys: { current: generateSigningKey('b1'), old: [] }, users, media });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const reg = await httpRequest(
      port,
      'POST',
      '/_matrix/client/v3/register',
      { 'content-type': 'application/json' },
      Buffer.from(JSON.stringify({ username: 'bench', password: 'bench password', auth: { type: 'm.login.dummy' } })),
    );
    const token = (JSON.parse(reg.body.toString()) as { access_token: string }).access_token;
    const auth = { authorization: `Bearer ${token}` };

    // --- Upload and download of a 50 MB file.
    const file = randomBytes(FILE_MB * 1024 * 1024);
    let mediaId = '';
    const uploadMs = await medianMs(async () => {
      const r = await httpRequest(port, 'POST', '/_matrix/media/v3/upload?filename=big.bin', { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(file.length) }, file);
      if (r.status !== 200) throw new Error(`upload failed: ${r.status} ${r.body.toString()}`);
      mediaId = (JSON.parse(r.body.toString()) as { content_uri: string }).content_uri.split('/').pop()!;
    }, 5);
    report({ name: `media upload ${FILE_MB} MB (HTTP, streamed to disk)`, median: FILE_MB / (uploadMs / 1000), unit: 'MB/s' });

    const downloadMs = await medianMs(async () => {
      const r = await httpRequest(port, 'GET', `/_matrix/client/v1/media/download/bench.local/${mediaId}`, auth, undefined, true);
      if (r.status !== 200 || r.length !== file.length) throw new Error(`download failed: ${r.status}`);
    }, 5);
    report({ name: `media download ${FILE_MB} MB (HTTP, from disk)`, median: FILE_MB / (downloadMs / 1000), unit: 'MB/s' });

    // --- Thumbnails of a 4000x3000 JPEG (noise, so that it decodes like a photo, not a flat colour).
    const jpeg = await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
      .jpeg({ quality: 85 })
      .toBuffer();
    const jpegPath = join(dir, 'photo.jpg');
    await sharp(jpeg).toFile(jpegPath);
    const src = await probeImage(jpegPath);
    if (!src) throw new Error('probe failed');
    const limits = { maxPixels: config.max_image_pixels };
    const scaleMs = await medianMs(() => renderThumbnail(jpegPath, src, { width: 800, height: 600, method: 'scale', type: 'image/jpeg' }, limits), 5);
    report({ name: 'thumbnail 4000x3000 JPEG -> 800x600 scale', median: scaleMs, unit: 'ms' });
    const cropMs = await medianMs(() => renderThumbnail(jpegPath, src, { width: 96, height: 96, method: 'crop', type: 'image/jpeg' }, limits), 5);
    report({ name: 'thumbnail 4000x3000 JPEG -> 96x96 crop', median: cropMs, unit: 'ms' });

    // End to end: first thumbnail request for a fresh upload (probe, render, store, serve).
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await httpRequest(port, 'POST', '/_matrix/media/v3/upload', { ...auth, 'content-type': 'image/jpeg', 'content-length': String(jpeg.length) }, jpeg);
      ids.push((JSON.parse(r.body.toString()) as { content_uri: string }).content_uri.split('/').pop()!);
    }
    let i = 0;
    const firstMs = await medianMs(async () => {
      const r = await httpRequest(port, 'GET', `/_matrix/client/v1/media/thumbnail/bench.local/${ids[i++]}?width=320&height=240&method=scale`, auth);
      if (r.status !== 200) throw new Error(`thumbnail failed: ${r.status}`);
    }, 5);
    report({ name: 'thumbnail first request over HTTP (4000x3000 JPEG -> 320x240)', median: firstMs, unit: 'ms' });
    const cachedMs = await medianMs(async () => {
      await httpRequest(port, 'GET', `/_matrix/client/v1/media/thumbnail/bench.local/${ids[0]}?width=320&height=240&method=scale`, auth);
    }, 20);
    report({ name: 'thumbnail cached request over HTTP', median: cachedMs, unit: 'ms' });
  } finally {
    await app.close();
    await media.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

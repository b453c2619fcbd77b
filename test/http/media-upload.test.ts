// Media upload and download: byte-identical round trips on every path, file names, the upload size
// limit (declared and streamed), browser-safe headers, range requests, HEAD and ETag, async uploads
// (create + PUT) and their errors, path traversal attempts, /config, and the legacy "freeze".
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MEDIA_CSP } from '../../src/http/media/serve.js';
import { mediaHarness, SERVER, type MediaHarness } from './media-harness.js';

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** A body sent without Content-Length (chunked), in pieces. */
function chunked(total: number, chunk = 64 * 1024): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk, total - sent);
      sent += n;
      this.push(Buffer.alloc(n, 7));
    },
  });
}

let h: MediaHarness;
let alice: string;

beforeEach(async () => {
  h = await mediaHarness({ max_upload_size: '1M' });
  alice = await h.register('alice');
});
afterEach(async () => {
  await h.close();
});

describe('upload and download', () => {
  it('round-trips binary content byte for byte on the legacy and authenticated paths', async () => {
    const data = randomBytes(300_000);
    const up = await h.req('POST', '/_matrix/media/v3/upload?filename=photo.bin', { token: alice, body: data, headers: { 'content-type': 'application/octet-stream' } });
    expect(up.status).toBe(200);
    const uri = up.json.content_uri as string;
    expect(uri).toMatch(new RegExp(`^mxc://${SERVER.replace('.', '\\.')}/[A-Za-z0-9]{24}$`));
    const mediaId = uri.split('/').pop()!;

    for (const path of [
      `/_matrix/media/v3/download/${SERVER}/${mediaId}`,
      `/_matrix/media/r0/download/${SERVER}/${mediaId}`,
      `/_matrix/media/v1/download/${SERVER}/${mediaId}`,
    ]) {
      const d = await h.req('GET', path);
      expect(d.status, path).toBe(200);
      expect(d.raw.equals(data), path).toBe(true);
      expect(d.headers['content-length']).toBe(String(data.length));
    }
    const authed = await h.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${mediaId}`, { token: alice });
    expect(authed.status).toBe(200);
    expect(authed.raw.equals(data)).toBe(true);
    expect(authed.headers['content-type']).toBe('application/octet-stream');
    expect(authed.headers['content-disposition']).toBe('attachment; filename=photo.bin');
    // The file sits in Synapse's layout.
    expect(statSync(join(h.storeDir, 'local_content', mediaId.slice(0, 2), mediaId.slice(2, 4), mediaId.slice(4))).size).toBe(data.length);
  });

  it('accepts the r0 and v1 upload paths, and an empty file', async () => {
    const r0 = await h.req('POST', '/_matrix/media/r0/upload', { token: alice, body: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(r0.status).toBe(200);
    const v1 = await h.req('POST', '/_matrix/media/v1/upload', { token: alice, body: Buffer.alloc(0), headers: { 'content-type': 'text/plain' } });
    expect(v1.status).toBe(200);
    const d = await h.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${(v1.json.content_uri as string).split('/').pop()}`, { token: alice });
    expect(d.status).toBe(200);
    expect(d.raw.length).toBe(0);
    expect(d.headers['content-length']).toBe('0');
  });

  it('needs an access token to upload and for the authenticated endpoints', async () => {
    const up = await h.req('POST', '/_matrix/media/v3/upload', { body: 'x' });
    expect(up.status).toBe(401);
    expect(up.json.errcode).toBe('M_MISSING_TOKEN');
    const { mediaId } = await h.upload(alice, 'x');
    for (const path of [
      `/_matrix/client/v1/media/download/${SERVER}/${mediaId}`,
      `/_matrix/client/v1/media/download/${SERVER}/${mediaId}/name.txt`,
      `/_matrix/client/v1/media/thumbnail/${SERVER}/${mediaId}?width=32&height=32`,
      '/_matrix/client/v1/media/config',
      '/_matrix/client/v1/media/preview_url?url=https://example.org/',
    ]) {
      const r = await h.req('GET', path);
      expect(r.status, path).toBe(401);
      expect(r.json.errcode, path).toBe('M_MISSING_TOKEN');
    }
    const bad = await h.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${mediaId}`, { token: 'nope' });
    expect(bad.status).toBe(401);
    expect(bad.json.errcode).toBe('M_UNKNOWN_TOKEN');
  });

  it('refuses an upload whose Content-Length is over max_upload_size without reading it', async () => {
    const r = await h.req('POST', '/_matrix/media/v3/upload', {
      token: alice,
      body: Buffer.alloc(1024 * 1024 + 1),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(r.status).toBe(413);
    expect(r.json.errcode).toBe('M_TOO_LARGE');
    expect(filesUnder(join(h.storeDir, 'local_content'))).toEqual([]);
  });

  it('aborts a chunked upload when it grows past the limit and deletes the partial file', async () => {
    const r = await h.req('POST', '/_matrix/media/v3/upload', { token: alice, body: chunked(3 * 1024 * 1024), headers: { 'content-type': 'application/octet-stream' } });
    expect(r.status).toBe(413);
    expect(r.json.errcode).toBe('M_TOO_LARGE');
    expect(r.headers.connection).toBe('close');
    expect(filesUnder(join(h.storeDir, 'local_content'))).toEqual([]);
    expect(filesUnder(join(h.storeDir, 'tmp'))).toEqual([]);
    // At the limit exactly, a chunked upload is fine.
    const ok = await h.req('POST', '/_matrix/media/v3/upload', { token: alice, body: chunked(1024 * 1024), headers: { 'content-type': 'application/octet-stream' } });
    expect(ok.status).toBe(200);
  });

  it('reports the limit at /config on both paths', async () => {
    for (const path of ['/_matrix/media/v3/config', '/_matrix/media/r0/config', '/_matrix/client/v1/media/config']) {
      const r = await h.req('GET', path, { token: alice });
      expect(r.status, path).toBe(200);
      expect(r.json).toEqual({ 'm.upload.size': 1024 * 1024 });
    }
    expect((await h.req('GET', '/_matrix/media/v3/config')).status).toBe(401);
  });
});

describe('headers of downloads', () => {
  it('serves HTML and SVG as attachments under a sandboxing CSP, with nosniff and CORP', async () => {
    for (const type of ['text/html', 'image/svg+xml', 'application/xhtml+xml', 'application/javascript']) {
      const { mediaId } = await h.upload(alice, '<script>alert(1)</script>', type, 'x.html');
      const d = await h.req('GET', `/_matrix/media/v3/download/${SERVER}/${mediaId}`);
      expect(d.status).toBe(200);
      expect(d.headers['content-disposition'], type).toBe('attachment; filename=x.html');
      expect(d.headers['content-security-policy']).toBe(MEDIA_CSP);
      expect(d.headers['x-content-type-options']).toBe('nosniff');
      expect(d.headers['cross-origin-resource-policy']).toBe('cross-origin');
      expect(d.headers['access-control-allow-origin']).toBe('*');
    }
  });

  it('serves the inline-safe types inline, with a UTF-8 charset for text', async () => {
    const { mediaId } = await h.upload(alice, 'plain words', 'text/plain');
    const d = await h.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${mediaId}`, { token: alice });
    expect(d.headers['content-type']).toBe('text/plain; charset=UTF-8');
    expect(d.headers['content-disposition']).toBe('inline');
    const png = await h.upload(alice, 'not really a png', 'image/png', 'pic.png');
    const p = await h.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${png.mediaId}`, { token: alice });
    expect(p.headers['content-type']).toBe('image/png');
    expect(p.headers['content-disposition']).toBe('inline; filename=pic.png');
  });

  it('encodes file names that are not tokens as RFC 5987 filename*', async () => {
    const { mediaId } = await h.upload(alice, 'x', 'application/pdf', 'résumé (final).pdf');
    const d = await h.req('GET', `/_matrix/media/v3/download/${SERVER}/${mediaId}`);
    expect(d.headers['content-disposition']).toBe("attachment; filename*=utf-8''r%C3%A9sum%C3%A9%20%28final%29.pdf");
    // The name in the URL replaces the uploaded one.
    const o = await h.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${mediaId}/${encodeURIComponent('new name.pdf')}`, { token: alice });
    expect(o.status).toBe(200);
    expect(o.headers['content-disposition']).toBe("attachment; filename*=utf-8''new%20name.pdf");
    const plain = await h.req('GET', `/_matrix/media/r0/download/${SERVER}/${mediaId}/other.pdf`);
    expect(plain.headers['content-disposition']).toBe('attachment; filename=other.pdf');
  });

  it('omits the file name when the upload had none, and stores a malformed content type as octet-stream', async () => {
    const { mediaId } = await h.upload(alice, 'x', 'not a type');
    const d = await h.req('GET', `/_matrix/media/v3/download/${SERVER}/${mediaId}`);
    expect(d.headers['content-type']).toBe('application/octet-stream');
    expect(d.headers['content-disposition']).toBe('attachment');
  });

  it('answers ranges with 206, unsatisfiable ones with 416, and ignores several ranges', async () => {
    const data = randomBytes(1000);
    const { mediaId } = await h.upload(alice, data);
    const url = `/_matrix/client/v1/media/download/${SERVER}/${mediaId}`;
    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 99],
      ['bytes=900-', 900, 999],
      ['bytes=-10', 990, 999],
      ['bytes=500-5000', 500, 999],
    ];
    for (const [range, start, end] of cases) {
      const r = await h.req('GET', url, { token: alice, headers: { range } });
      expect(r.status, range).toBe(206);
      expect(r.headers['content-range'], range).toBe(`bytes ${start}-${end}/1000`);
      expect(r.raw.equals(data.subarray(start, end + 1)), range).toBe(true);
    }
    const beyond = await h.req('GET', url, { token: alice, headers: { range: 'bytes=1000-' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe('bytes */1000');
    const multi = await h.req('GET', url, { token: alice, headers: { range: 'bytes=0-1,5-6' } });
    expect(multi.status).toBe(200);
    expect(multi.raw.equals(data)).toBe(true);
    expect(multi.headers['accept-ranges']).toBe('bytes');
  });

  it('answers HEAD with the headers only, and a matching If-None-Match with 304', async () => {
    const { mediaId } = await h.upload(alice, 'twelve bytes', 'text/plain');
    const head = await h.req('HEAD', `/_matrix/media/v3/download/${SERVER}/${mediaId}`);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('12');
    expect(head.raw.length).toBe(0);
    const etag = head.headers.etag as string;
    expect(etag).toBeTruthy();
    const again = await h.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${mediaId}`, { token: alice, headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.raw.length).toBe(0);
  });

  it('answers 404 M_NOT_FOUND for unknown media and for remote media it cannot fetch', async () => {
    const r = await h.req('GET', `/_matrix/media/v3/download/${SERVER}/abcdefghijklmnopqrstuvwx`);
    expect(r.status).toBe(404);
    expect(r.json.errcode).toBe('M_NOT_FOUND');
    const remote = await h.req('GET', '/_matrix/client/v1/media/download/other.example/abcdefghijklmnopqrstuvwx', { token: alice });
    expect(remote.status).toBe(404);
    expect(remote.json.errcode).toBe('M_NOT_FOUND');
  });
});

describe('path traversal', () => {
  it('never serves a file outside the store, whatever the server name or media ID', async () => {
    await h.upload(alice, 'x');
    const attempts = [
      `/_matrix/media/v3/download/${SERVER}/..%2F..%2F..%2Fetc%2Fpasswd`,
      `/_matrix/media/v3/download/${SERVER}/..`,
      `/_matrix/media/v3/download/${SERVER}/%2E%2E`,
      '/_matrix/media/v3/download/../abcdefghijklmnopqrstuvwx',
      '/_matrix/media/v3/download/..%2F..%2Fetc/passwd',
      '/_matrix/media/v3/download/%2E%2E/abcdefghijklmnopqrstuvwx',
      '/_matrix/media/v3/download/./abcdefghijklmnopqrstuvwx',
      '/_matrix/media/v3/download/a..b/abcdefghijklmnopqrstuvwx',
      `/_matrix/media/v3/thumbnail/${SERVER}/..%2F..%2Fhomeserver.db?width=32&height=32`,
      `/_matrix/client/v1/media/download/${SERVER}/abc%00def`,
      `/_matrix/client/v1/media/download/${encodeURIComponent('127.0.0.1/../..')}/abcdefghijklmnopqrstuvwx`,
    ];
    for (const path of attempts) {
      const r = await h.req('GET', path, { token: alice });
      expect([400, 404], path).toContain(r.status);
      expect(r.headers['content-type'], path).toContain('application/json');
    }
    const badServer = await h.req('GET', '/_matrix/media/v3/download/..%2Fetc/abcdefghijklmnopqrstuvwx');
    expect(badServer.status).toBe(400);
    expect(badServer.json.errcode).toBe('M_INVALID_PARAM');
  });
});

describe('async upload (create, then PUT)', () => {
  it('creates a URI, takes its content once from its creator, and serves it', async () => {
    const c = await h.req('POST', '/_matrix/media/v1/create', { token: alice });
    expect(c.status).toBe(200);
    expect(c.json.unused_expires_at).toBe(h.clock.now + 24 * 3600 * 1000);
    const mediaId = (c.json.content_uri as string).split('/').pop()!;
    expect(c.json.content_uri).toBe(`mxc://${SERVER}/${mediaId}`);

    // Not uploaded yet: 504 M_NOT_YET_UPLOADED once timeout_ms has passed.
    const early = await h.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${mediaId}?timeout_ms=0`, { token: alice });
    expect(early.status).toBe(504);
    expect(early.json.errcode).toBe('M_NOT_YET_UPLOADED');

    const bob = await h.register('bob');
    const other = await h.req('PUT', `/_matrix/media/v3/upload/${SERVER}/${mediaId}`, { token: bob, body: 'x' });
    expect(other.status).toBe(403);
    expect(other.json.errcode).toBe('M_FORBIDDEN');

    // A download waiting for the upload gets it as soon as it lands.
    const waiting = h.req('GET', `/_matrix/media/v3/download/${SERVER}/${mediaId}?timeout_ms=5000`);
    const put = await h.req('PUT', `/_matrix/media/v3/upload/${SERVER}/${mediaId}?filename=later.txt`, {
      token: alice,
      body: 'late content',
      headers: { 'content-type': 'text/plain' },
    });
    expect(put.status).toBe(200);
    expect(put.json).toEqual({});
    const got = await waiting;
    expect(got.status).toBe(200);
    expect(got.raw.toString()).toBe('late content');
    expect(got.headers['content-disposition']).toBe('inline; filename=later.txt');

    const again = await h.req('PUT', `/_matrix/media/v3/upload/${SERVER}/${mediaId}`, { token: alice, body: 'overwrite' });
    expect(again.status).toBe(409);
    expect(again.json.errcode).toBe('M_CANNOT_OVERWRITE_MEDIA');
    const after = await h.req('GET', `/_matrix/media/v3/download/${SERVER}/${mediaId}`);
    expect(after.raw.toString()).toBe('late content');
  });

  it('refuses unknown, remote and expired media IDs, and too many pending ones', async () => {
    const unknown = await h.req('PUT', `/_matrix/media/v3/upload/${SERVER}/abcdefghijklmnopqrstuvwx`, { token: alice, body: 'x' });
    expect(unknown.status).toBe(404);
    expect(unknown.json.errcode).toBe('M_NOT_FOUND');
    const c = await h.req('POST', '/_matrix/media/v1/create', { token: alice });
    const mediaId = (c.json.content_uri as string).split('/').pop()!;
    const remote = await h.req('PUT', `/_matrix/media/v3/upload/other.example/${mediaId}`, { token: alice, body: 'x' });
    expect(remote.status).toBe(404);
    const traversal = await h.req('PUT', `/_matrix/media/v3/upload/${SERVER}/..%2F..%2Fx`, { token: alice, body: 'x' });
    expect(traversal.status).toBe(404);

    h.clock.now += 24 * 3600 * 1000 + 1;
    const expired = await h.req('PUT', `/_matrix/media/v3/upload/${SERVER}/${mediaId}`, { token: alice, body: 'x' });
    expect(expired.status).toBe(404);
    expect(expired.json.errcode).toBe('M_NOT_FOUND');
    expect((await h.req('GET', `/_matrix/media/v3/download/${SERVER}/${mediaId}`)).status).toBe(404);

    // The expired one no longer counts: five more may be pending, not six.
    for (let i = 0; i < 5; i++) expect((await h.req('POST', '/_matrix/media/v1/create', { token: alice })).status).toBe(200);
    const sixth = await h.req('POST', '/_matrix/media/v1/create', { token: alice });
    expect(sixth.status).toBe(429);
    expect(sixth.json.errcode).toBe('M_LIMIT_EXCEEDED');
    expect(sixth.json.retry_after_ms).toBe(24 * 3600 * 1000);
  });

  it('enforces the size limit on PUT too, leaving the URI uploadable', async () => {
    const c = await h.req('POST', '/_matrix/media/v1/create', { token: alice });
    const mediaId = (c.json.content_uri as string).split('/').pop()!;
    const big = await h.req('PUT', `/_matrix/media/v3/upload/${SERVER}/${mediaId}`, { token: alice, body: chunked(2 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect(big.json.errcode).toBe('M_TOO_LARGE');
    expect(filesUnder(join(h.storeDir, 'local_content'))).toEqual([]);
    const ok = await h.req('PUT', `/_matrix/media/v3/upload/${SERVER}/${mediaId}`, { token: alice, body: 'small' });
    expect(ok.status).toBe(200);
  });
});

describe('enable_authenticated_media', () => {
  it('keeps media uploaded after the freeze off the legacy endpoints', async () => {
    const frozen = await mediaHarness({ enable_authenticated_media: true });
    try {
      const t = await frozen.register('carol');
      const { mediaId } = await frozen.upload(t, 'secret', 'text/plain');
      expect((await frozen.req('GET', `/_matrix/media/v3/download/${SERVER}/${mediaId}`)).status).toBe(404);
      const authed = await frozen.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${mediaId}`, { token: t });
      expect(authed.status).toBe(200);
      expect(authed.raw.toString()).toBe('secret');
    } finally {
      await frozen.close();
    }
  });
});

describe('over a real socket', () => {
  /** Sends a chunked upload of `total` bytes to a listening app; resolves with status and body. */
  async function chunkedUpload(port: number, token: string, total: number): Promise<{ status: number; body: string; connection: string | undefined }> {
    const { request } = await import('node:http');
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/_matrix/media/v3/upload?filename=big.bin', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), connection: res.headers.connection }));
        },
      );
      // The server may close the connection while we are still sending: that is the point.
      req.on('error', (e) => (e as NodeJS.ErrnoException).code === 'EPIPE' || (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e));
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          const n = Math.min(64 * 1024, total - sent);
          sent += n;
          if (!req.write(Buffer.alloc(n, 1))) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
  }

  it('streams a chunked upload to disk, and answers 413 mid-stream past the limit', async () => {
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (h.app.server.address() as { port: number }).port;
    const ok = await chunkedUpload(port, alice, 1000 * 1000);
    expect(ok.status).toBe(200);
    const uri = JSON.parse(ok.body).content_uri as string;
    const d = await h.req('GET', `/_matrix/media/v3/download/${SERVER}/${uri.split('/').pop()}`);
    expect(d.raw.length).toBe(1000 * 1000);
    expect(d.raw.every((b) => b === 1)).toBe(true);

    const empty = await chunkedUpload(port, alice, 0);
    expect(empty.status).toBe(200);

    const tooBig = await chunkedUpload(port, alice, 8 * 1024 * 1024);
    expect(tooBig.status).toBe(413);
    expect(JSON.parse(tooBig.body).errcode).toBe('M_TOO_LARGE');
    expect(tooBig.connection).toBe('close');
    expect(filesUnder(join(h.storeDir, 'tmp'))).toEqual([]);
    expect(filesUnder(join(h.storeDir, 'local_content'))).toHaveLength(2);
  });
});

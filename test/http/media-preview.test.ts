// URL previews against a local HTTP server: Open Graph data with the og:image stored as media
// (allowed through url_preview_ip_range_whitelist), loopback refused by default in every spelling,
// redirects re-checked, size and time limits, content types, the URL blacklist, caching, and
// 404 M_UNRECOGNIZED when previews are off.
import { createServer, type Server } from 'node:http';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mediaHarness, SERVER, type MediaHarness } from './media-harness.js';

let site: Server;
let port: number;
let pngBytes: Buffer;
const hits = new Map<string, number>();

const PAGE = `<!doctype html>
<html><head>
<meta charset="utf-8">
<title>Ignored when og:title exists</title>
<meta property="og:title" content="The &amp; Page">
<meta property="og:description" content="A page about things.">
<meta property="og:image" content="/img.png">
<meta property="og:type" content="article">
</head><body><p>Body text.</p></body></html>`;

const PLAIN_PAGE = `<html><head><title> Plain  title </title>
<meta name="description" content="">
<script>var s = "<title>not this</title>";</script></head>
<body><nav>Menu Home About</nav><p>First paragraph of the page.</p><img src="/tiny.gif"><img src="/img.png" width="200" height="100"></body></html>`;

beforeAll(async () => {
  pngBytes = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
  site = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    switch (path) {
      case '/page':
      case '/counted':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
        return;
      case '/plain':
        res.writeHead(200, { 'content-type': 'text/html' }).end(PLAIN_PAGE);
        return;
      case '/latin1':
        res.writeHead(200, { 'content-type': 'text/html; charset=iso-8859-1' }).end(Buffer.from('<title>caf\xe9</title>', 'latin1'));
        return;
      case '/img.png':
        res.writeHead(200, { 'content-type': 'image/png' }).end(pngBytes);
        return;
      case '/redirect':
        res.writeHead(302, { location: '/page' }).end();
        return;
      case '/redirect-blocked':
        res.writeHead(302, { location: `http://127.0.0.2:${port}/page` }).end();
        return;
      case '/loop':
        res.writeHead(302, { location: '/loop' }).end();
        return;
      case '/big':
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<title>big</title>${'x'.repeat(50_000)}`);
        return;
      case '/pdf':
        res.writeHead(200, { 'content-type': 'application/pdf' }).end('%PDF-1.4');
        return;
      case '/slow':
        // Headers, then silence.
        res.writeHead(200, { 'content-type': 'text/html' });
        res.write('<title>slow');
        return;
      case '/missing':
        res.writeHead(404).end();
        return;
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  port = (site.address() as { port: number }).port;
});
afterAll(async () => {
  site.closeAllConnections();
  await new Promise<void>((resolve) => site.close(() => resolve()));
});

let h: MediaHarness;
let alice: string;
const preview = (url: string, extra = '') => `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(url)}${extra}`;

afterEach(async () => {
  await h.close();
});

describe('with the default blacklist', () => {
  it('refuses loopback and private addresses however they are written', async () => {
    h = await mediaHarness({ url_preview_enabled: true });
    alice = await h.register('alice');
    for (const host of ['127.0.0.1', '2130706433', '0x7f.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '10.1.2.3', '169.254.169.254', '[fd00::1]', '0.0.0.0']) {
      const r = await h.req('GET', preview(`http://${host}:${port}/page`), { token: alice });
      expect(r.status, host).toBe(403);
      expect(r.json.errcode, host).toBe('M_UNKNOWN');
    }
    // A name that resolves only to loopback is refused at connect time (Synapse answers 502).
    const named = await h.req('GET', preview(`http://localhost:${port}/page`), { token: alice });
    expect(named.status).toBe(502);
    expect(hits.get('/page') ?? 0).toBe(0);
  });
});

describe('previews of a local site (127.0.0.1 whitelisted)', () => {
  const cfg = { url_preview_enabled: true, url_preview_ip_range_whitelist: ['127.0.0.1'] };

  it('returns the Open Graph data with og:image stored as media', async () => {
    h = await mediaHarness(cfg);
    alice = await h.register('alice');
    const r = await h.req('GET', preview(`http://127.0.0.1:${port}/page`), { token: alice });
    expect(r.status).toBe(200);
    expect(r.json['og:title']).toBe('The & Page');
    expect(r.json['og:description']).toBe('A page about things.');
    expect(r.json['og:type']).toBe('article');
    expect(r.json['og:image:type']).toBe('image/png');
    expect(r.json['og:image:width']).toBe(64);
    expect(r.json['og:image:height']).toBe(48);
    expect(r.json['matrix:image:size']).toBe(pngBytes.length);
    const mxc = r.json['og:image'] as string;
    expect(mxc).toMatch(new RegExp(`^mxc://${SERVER.replace('.', '\\.')}/[A-Za-z0-9]{24}$`));
    const d = await h.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${mxc.split('/').pop()}`, { token: alice });
    expect(d.raw.equals(pngBytes)).toBe(true);
  });

  it('synthesises title, description and image for pages without Open Graph tags', async () => {
    h = await mediaHarness(cfg);
    alice = await h.register('alice');
    const r = await h.req('GET', `/_matrix/media/v3/preview_url?url=${encodeURIComponent(`http://127.0.0.1:${port}/plain`)}`, { token: alice });
    expect(r.status).toBe(200);
    expect(r.json['og:title']).toBe('Plain title');
    expect(r.json['og:description']).toBe('First paragraph of the page.');
    // The largest sized image, not the first one.
    expect(r.json['og:image:width']).toBe(64);
    const latin1 = await h.req('GET', preview(`http://127.0.0.1:${port}/latin1`), { token: alice });
    expect(latin1.json['og:title']).toBe('café');
    const image = await h.req('GET', preview(`http://127.0.0.1:${port}/img.png`), { token: alice });
    expect(image.json['og:image:type']).toBe('image/png');
    expect(image.json['og:description']).toBe('img.png');
    expect(image.json['og:image:width']).toBe(64);
  });

  it('keeps a preview for an hour: the page is fetched once', async () => {
    h = await mediaHarness(cfg);
    alice = await h.register('alice');
    const before = hits.get('/counted') ?? 0;
    const [a, b] = await Promise.all([
      h.req('GET', preview(`http://127.0.0.1:${port}/counted`), { token: alice }),
      h.req('GET', preview(`http://127.0.0.1:${port}/counted`), { token: alice }),
    ]);
    const c = await h.req('GET', preview(`http://127.0.0.1:${port}/counted`), { token: alice });
    expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
    expect(c.json).toEqual(a.json);
    expect(hits.get('/counted')! - before).toBe(1);
    h.clock.now += 3600 * 1000 + 1;
    await h.req('GET', preview(`http://127.0.0.1:${port}/counted`), { token: alice });
    expect(hits.get('/counted')! - before).toBe(2);
  });

  it('deletes expired previews, and their images after two days', async () => {
    h = await mediaHarness(cfg);
    alice = await h.register('alice');
    const r = await h.req('GET', preview(`http://127.0.0.1:${port}/page`), { token: alice });
    const mediaId = (r.json['og:image'] as string).split('/').pop()!;
    const thumb = await h.req('GET', `/_matrix/client/v1/media/thumbnail/${SERVER}/${mediaId}?width=32&height=32&method=crop`, { token: alice });
    expect(thumb.status).toBe(200);
    const previewer = h.media.previewer!;
    expect(await previewer.expireCache()).toEqual({ previews: 0, images: 0 });
    h.clock.now += 3600 * 1000 + 1;
    expect(await previewer.expireCache()).toEqual({ previews: 1, images: 0 });
    expect((await h.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${mediaId}`, { token: alice })).status).toBe(200);
    h.clock.now += 2 * 24 * 3600 * 1000;
    expect(await previewer.expireCache()).toEqual({ previews: 0, images: 1 });
    expect((await h.req('GET', `/_matrix/client/v1/media/download/${SERVER}/${mediaId}`, { token: alice })).status).toBe(404);
    const left = h.db.prepare("SELECT (SELECT COUNT(*) FROM media_thumbnails) + (SELECT COUNT(*) FROM media_image_info) AS n").get() as { n: number };
    expect(left.n).toBe(0);
    const { existsSync } = await import('node:fs');
    expect(existsSync(h.media.repo.paths.localContent(mediaId))).toBe(false);
    expect(existsSync(h.media.repo.paths.localThumbnailDir(mediaId))).toBe(false);
  });

  it('follows redirects but checks every hop, and stops after five', async () => {
    h = await mediaHarness(cfg);
    alice = await h.register('alice');
    const ok = await h.req('GET', preview(`http://127.0.0.1:${port}/redirect`), { token: alice });
    expect(ok.status).toBe(200);
    expect(ok.json['og:title']).toBe('The & Page');
    const blocked = await h.req('GET', preview(`http://127.0.0.1:${port}/redirect-blocked`), { token: alice });
    expect(blocked.status).toBe(403);
    const loop = await h.req('GET', preview(`http://127.0.0.1:${port}/loop`), { token: alice });
    expect(loop.status).toBe(502);
  });

  it('refuses pages over max_spider_size, other content types, error statuses and slow servers', async () => {
    h = await mediaHarness({ ...cfg, max_spider_size: '10K' }, { previewTimeoutMs: 300 });
    alice = await h.register('alice');
    const big = await h.req('GET', preview(`http://127.0.0.1:${port}/big`), { token: alice });
    expect(big.status).toBe(502);
    expect(big.json.errcode).toBe('M_TOO_LARGE');
    expect((await h.req('GET', preview(`http://127.0.0.1:${port}/pdf`), { token: alice })).status).toBe(502);
    expect((await h.req('GET', preview(`http://127.0.0.1:${port}/missing`), { token: alice })).status).toBe(502);
    const started = Date.now();
    const slow = await h.req('GET', preview(`http://127.0.0.1:${port}/slow`), { token: alice });
    expect(slow.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('checks the url parameter and url_preview_url_blacklist', async () => {
    h = await mediaHarness({ ...cfg, url_preview_url_blacklist: [{ path: '/pa*' }, { netloc: '^evil\\.' }] });
    alice = await h.register('alice');
    const listed = await h.req('GET', preview(`http://127.0.0.1:${port}/page`), { token: alice });
    expect(listed.status).toBe(403);
    expect((await h.req('GET', preview('http://evil.example/x'), { token: alice })).status).toBe(403);
    const missing = await h.req('GET', '/_matrix/client/v1/media/preview_url', { token: alice });
    expect(missing.status).toBe(400);
    expect(missing.json.errcode).toBe('M_MISSING_PARAM');
    for (const url of ['ftp://127.0.0.1/x', 'file:///etc/passwd', 'not a url']) {
      const r = await h.req('GET', preview(url), { token: alice });
      expect(r.status, url).toBe(400);
    }
    expect((await h.req('GET', preview('https://example.org/', '&ts=abc'), { token: alice })).status).toBe(400);
    expect((await h.req('GET', preview(`http://127.0.0.1:${port}/page`))).status).toBe(401);
  });
});

describe('with url_preview_enabled: false', () => {
  it('answers 404 M_UNRECOGNIZED, as Synapse', async () => {
    h = await mediaHarness();
    alice = await h.register('alice');
    for (const path of ['/_matrix/client/v1/media/preview_url', '/_matrix/media/v3/preview_url', '/_matrix/media/r0/preview_url']) {
      const r = await h.req('GET', `${path}?url=${encodeURIComponent('https://example.org/')}`, { token: alice });
      expect(r.status, path).toBe(404);
      expect(r.json.errcode, path).toBe('M_UNRECOGNIZED');
    }
  });
});

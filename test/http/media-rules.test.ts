// The pure rules of the media area, table by table: ID and origin checks, store paths that cannot
// escape, Content-Disposition and inline types, Range parsing, thumbnail sizes and selection,
// format sniffing, the preview address policy, URL blacklist entries and the Open Graph scanner.
import { describe, expect, it } from 'vitest';
import { generateMediaId, isValidMediaId, isValidMediaOrigin } from '../../src/media/ids.js';
import { MediaPaths } from '../../src/media/paths.js';
import { contentDisposition, parseRange, servedContentType, uploadContentType } from '../../src/media/http-rules.js';
import { candidateThumbnails, croppedSize, scaledSize, selectThumbnail } from '../../src/media/thumbnail-plan.js';
import { sniffImageFormat } from '../../src/media/image.js';
import { AddressPolicy } from '../../src/media/preview/address-policy.js';
import { isUrlBlacklisted } from '../../src/media/preview/previewer.js';
import { decodeHtml, parseOpenGraph, summarize } from '../../src/media/preview/opengraph.js';
import { DEFAULT_IP_RANGE_BLACKLIST, DEFAULT_THUMBNAIL_SIZES } from '../../src/config/schema.js';

describe('media IDs and origins', () => {
  it('generates 24 alphanumeric characters', () => {
    const ids = new Set(Array.from({ length: 100 }, () => generateMediaId()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9]{24}$/);
  });

  it('accepts only [A-Za-z0-9_-] media IDs', () => {
    for (const ok of ['abc', 'A-b_C9', 'x'.repeat(255)]) expect(isValidMediaId(ok), ok).toBe(true);
    for (const bad of ['', '..', 'a/b', 'a.b', 'a%2Fb', 'é', 'a b', 'a\u0000', 'x'.repeat(256)]) expect(isValidMediaId(bad), bad).toBe(false);
  });

  it('accepts server names that are safe folder names', () => {
    for (const ok of ['example.org', 'example.org:8448', '127.0.0.1', '[::1]:8448', 'localhost', 'a-b.c']) expect(isValidMediaOrigin(ok), ok).toBe(true);
    for (const bad of ['.', '..', '..:80', 'a..b', '.example.org', 'example.org.', 'a/b', '../x', '', 'exa mple', 'a:0', '[::1']) {
      expect(isValidMediaOrigin(bad), bad).toBe(false);
    }
  });
});

describe('MediaPaths', () => {
  const paths = new MediaPaths('/srv/media');
  it("uses Synapse's layout", () => {
    expect(paths.localContent('abcdefghij')).toBe('/srv/media/local_content/ab/cd/efghij');
    expect(paths.localThumbnail('abcdefghij', { width: 32, height: 32, method: 'crop', type: 'image/png' })).toBe(
      '/srv/media/local_thumbnails/ab/cd/efghij/32-32-image-png-crop',
    );
    expect(paths.remoteContent('example.org:8448', 'abcdefghij')).toBe('/srv/media/remote_content/example.org:8448/ab/cd/efghij');
  });
  it('refuses anything that could leave the store', () => {
    expect(() => paths.localContent('../../etc/passwd')).toThrow();
    expect(() => paths.localContent('ab')).toThrow();
    expect(() => paths.remoteContent('..', 'abcdefghij')).toThrow();
    expect(() => paths.remoteContent('a/../..', 'abcdefghij')).toThrow();
    expect(() => paths.localThumbnail('abcdefghij', { width: 1, height: 1, method: 'crop', type: 'image/../../x' })).toThrow();
  });
});

describe('Content-Disposition and content types', () => {
  it('is inline only for the safe list', () => {
    expect(contentDisposition('image/png', null)).toBe('inline');
    expect(contentDisposition('IMAGE/PNG; foo=bar', 'a.png')).toBe('inline; filename=a.png');
    expect(contentDisposition('text/html', 'a.html')).toBe('attachment; filename=a.html');
    expect(contentDisposition('image/svg+xml', 'a.svg')).toBe('attachment; filename=a.svg');
    expect(contentDisposition('application/octet-stream', undefined)).toBe('attachment');
  });
  it('encodes names with separators or non-ASCII as RFC 5987', () => {
    expect(contentDisposition('text/plain', 'a;b.txt')).toBe("inline; filename*=utf-8''a%3Bb.txt");
    expect(contentDisposition('text/plain', 'x"y')).toBe("inline; filename*=utf-8''x%22y");
    expect(contentDisposition('text/plain', "it's (1)*")).toBe("inline; filename*=utf-8''it%27s%20%281%29%2A");
    expect(contentDisposition('text/plain', '日本.txt')).toBe("inline; filename*=utf-8''%E6%97%A5%E6%9C%AC.txt");
    expect(contentDisposition('text/plain', 'a\r\nb')).toBe("inline; filename*=utf-8''a%0D%0Ab");
  });
  it('stores well-formed content types and adds a charset to text when serving', () => {
    expect(uploadContentType(undefined)).toBe('application/octet-stream');
    expect(uploadContentType('image/png')).toBe('image/png');
    expect(uploadContentType('text/plain; charset=latin1')).toBe('text/plain; charset=latin1');
    expect(uploadContentType('garbage')).toBe('application/octet-stream');
    expect(uploadContentType('text/plain\r\nx-evil: 1')).toBe('application/octet-stream');
    expect(servedContentType('text/plain')).toBe('text/plain; charset=UTF-8');
    expect(servedContentType('text/plain; charset=latin1')).toBe('text/plain; charset=latin1');
    expect(servedContentType('image/png')).toBe('image/png');
    expect(servedContentType(null)).toBe('application/octet-stream');
  });
});

describe('parseRange', () => {
  it.each([
    [undefined, { kind: 'full' }],
    ['bytes=0-9', { kind: 'partial', start: 0, end: 9 }],
    ['bytes=5-', { kind: 'partial', start: 5, end: 99 }],
    ['bytes=-5', { kind: 'partial', start: 95, end: 99 }],
    ['bytes=-500', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=90-500', { kind: 'partial', start: 90, end: 99 }],
    ['bytes=100-', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=9-5', { kind: 'full' }],
    ['bytes=0-1,3-4', { kind: 'full' }],
    ['items=0-1', { kind: 'full' }],
    ['bytes=abc', { kind: 'full' }],
  ] as const)('%s', (header, expected) => {
    expect(parseRange(header, 100)).toEqual(expected);
  });
});

describe('thumbnail sizes', () => {
  it('scales inside the box, never larger than the source', () => {
    expect(scaledSize(1000, 500, 640, 480)).toEqual({ width: 640, height: 320 });
    expect(scaledSize(500, 1000, 640, 480)).toEqual({ width: 240, height: 480 });
    expect(scaledSize(100, 50, 640, 480)).toEqual({ width: 100, height: 50 });
    expect(scaledSize(10000, 1, 32, 32)).toEqual({ width: 32, height: 1 });
  });
  it('crops to the requested size, or to its aspect ratio within a smaller source', () => {
    expect(croppedSize(400, 300, 96, 96)).toEqual({ width: 96, height: 96 });
    expect(croppedSize(20, 10, 96, 96)).toEqual({ width: 10, height: 10 });
    expect(croppedSize(50, 200, 100, 50)).toEqual({ width: 50, height: 25 });
  });
  it('chooses like Synapse among the configured sizes', () => {
    const src = { format: 'jpeg' as const, width: 1000, height: 500, frames: 1 };
    const c = candidateThumbnails(DEFAULT_THUMBNAIL_SIZES, src);
    expect(c).toEqual([
      { width: 32, height: 32, method: 'crop', type: 'image/jpeg' },
      { width: 96, height: 96, method: 'crop', type: 'image/jpeg' },
      { width: 320, height: 160, method: 'scale', type: 'image/jpeg' },
      { width: 640, height: 320, method: 'scale', type: 'image/jpeg' },
      { width: 800, height: 400, method: 'scale', type: 'image/jpeg' },
    ]);
    const pick = (width: number, height: number, method: 'crop' | 'scale') => selectThumbnail({ width, height, method, type: 'image/png' }, c);
    expect(pick(640, 480, 'scale')).toMatchObject({ width: 640, height: 320 });
    expect(pick(700, 700, 'scale')).toMatchObject({ width: 800, height: 400 });
    expect(pick(2000, 2000, 'scale')).toMatchObject({ width: 800, height: 400 });
    expect(pick(40, 40, 'crop')).toMatchObject({ width: 96, height: 96 });
    expect(pick(16, 16, 'crop')).toMatchObject({ width: 32, height: 32 });
    // No crop sizes configured: the scale ones serve.
    expect(selectThumbnail({ width: 32, height: 32, method: 'crop', type: 'image/png' }, c.filter((t) => t.method === 'scale'))).toMatchObject({ method: 'scale' });
  });
  it('adds animated WebP variants for animated sources', () => {
    const c = candidateThumbnails([{ width: 32, height: 32, method: 'crop' }], { format: 'gif', width: 100, height: 100, frames: 4 });
    expect(c.map((t) => t.type)).toEqual(['image/png', 'image/webp']);
    expect(selectThumbnail({ width: 32, height: 32, method: 'crop', type: 'image/webp' }, c)?.type).toBe('image/webp');
    expect(selectThumbnail({ width: 32, height: 32, method: 'crop', type: 'image/png' }, c)?.type).toBe('image/png');
  });
});

describe('sniffImageFormat', () => {
  it('knows JPEG, PNG, GIF and WebP by their magic bytes only', () => {
    expect(sniffImageFormat(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(sniffImageFormat(Buffer.from('89504e470d0a1a0a0000', 'hex'))).toBe('png');
    expect(sniffImageFormat(Buffer.from('GIF89a....'))).toBe('gif');
    expect(sniffImageFormat(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).toBe('webp');
    expect(sniffImageFormat(Buffer.from('<svg xmlns='))).toBeUndefined();
    expect(sniffImageFormat(Buffer.from('II*\0'))).toBeUndefined(); // TIFF: not decoded
    expect(sniffImageFormat(Buffer.from(''))).toBeUndefined();
  });
});

describe('AddressPolicy', () => {
  const policy = new AddressPolicy(DEFAULT_IP_RANGE_BLACKLIST, ['192.168.1.0/24']);
  it.each([
    ['127.0.0.1', true],
    ['10.0.0.1', true],
    ['172.16.5.4', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['::', true],
    ['::1', true],
    ['fe80::1', true],
    ['fd12::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['192.168.1.20', false],
    ['192.168.2.20', true],
    ['93.184.216.34', false],
    ['2606:4700::1111', false],
    ['not-an-ip', true],
  ])('%s blocked: %s', (ip, blocked) => {
    expect(policy.isBlocked(ip)).toBe(blocked);
  });
});

describe('isUrlBlacklisted', () => {
  const entries = [{ netloc: '*.internal.example' }, { scheme: 'http', hostname: 'plain.example' }, { path: '^/private/' }, { port: '8080' }];
  it.each([
    ['https://a.internal.example/x', true],
    ['https://internal.example/x', false],
    ['http://plain.example/', true],
    ['https://plain.example/', false],
    ['https://ok.example/private/doc', true],
    ['https://ok.example/public/private/', false],
    ['https://ok.example:8080/', true],
    ['https://ok.example/', false],
  ])('%s -> %s', (url, listed) => {
    expect(isUrlBlacklisted(new URL(url), entries)).toBe(listed);
  });
});

describe('parseOpenGraph', () => {
  it('reads og:, article: and twitter: tags, first value wins', () => {
    const og = parseOpenGraph(`<head>
      <meta property="og:title" content="One"><meta property="og:title" content="Two">
      <meta content='Desc &quot;quoted&quot;' property='og:description'/>
      <meta property="article:author" content="Ann">
      <meta name="twitter:image" content="https://x.example/t.png">
      <meta name="twitter:title" content="Not used">
    </head>`);
    expect(og).toEqual({
      'og:title': 'One',
      'og:description': 'Desc "quoted"',
      'article:author': 'Ann',
      'og:image': 'https://x.example/t.png',
    });
  });

  it('falls back to <title>, the first heading, the meta description and the body text', () => {
    expect(parseOpenGraph('<title>T &amp; T</title><h1>H</h1>')['og:title']).toBe('T & T');
    expect(parseOpenGraph('<body><h2>Heading <b>bold</b></h2><p>x</p></body>')['og:title']).toBe('Heading bold');
    expect(parseOpenGraph('<meta name="description" content="meta desc"><p>body</p>')['og:description']).toBe('meta desc');
    const og = parseOpenGraph('<body><header>skip</header><nav>menu</nav><script>var x="<p>no</p>"</script><style>p{}</style><!-- c --><p>Keep  this\n text.</p><footer>f</footer></body>');
    expect(og['og:description']).toBe('Keep this text.');
  });

  it('prefers an itemprop image, then the largest sized image, then the first, then the favicon', () => {
    expect(parseOpenGraph('<meta itemprop="image" content="/i.png"><img src="/a.png" width="500" height="500">')['og:image']).toBe('/i.png');
    expect(parseOpenGraph('<img src="/small.png" width="20" height="20"><img src="/big.png" width="300" height="200"><img src="/x.png">')['og:image']).toBe('/big.png');
    expect(parseOpenGraph('<img src="/first.png"><img src="/second.png">')['og:image']).toBe('/first.png');
    expect(parseOpenGraph('<link rel="shortcut icon" href="/favicon.ico">')['og:image']).toBe('/favicon.ico');
  });

  it('survives broken markup', () => {
    expect(parseOpenGraph('<title>unterminated')).toEqual({ 'og:title': 'unterminated' });
    expect(parseOpenGraph('<meta property="og:title" content="x')).toEqual({});
    expect(parseOpenGraph('a < b and <3 <<>> </p></div>')['og:description']).toBe('a < b and <3 <<>>');
    expect(parseOpenGraph('')).toEqual({});
    // Linear time on hostile input.
    const t0 = Date.now();
    parseOpenGraph('<a '.repeat(200_000) + '<'.repeat(200_000) + '<!--'.repeat(100_000));
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('summarises long descriptions at a word boundary', () => {
    const s = summarize('word '.repeat(300));
    expect(s.length).toBeLessThanOrEqual(501);
    expect(s.endsWith('word…')).toBe(true);
  });

  it('decodes by the declared or detected charset', () => {
    expect(decodeHtml(Buffer.from('<title>caf\xe9</title>', 'latin1'), 'text/html; charset=ISO-8859-1')).toContain('café');
    expect(decodeHtml(Buffer.from('<meta charset="windows-1252"><title>\x93q\x94</title>', 'latin1'), 'text/html')).toContain('“q”');
    expect(decodeHtml(Buffer.from('<title>é</title>'), undefined)).toContain('é');
    expect(decodeHtml(Buffer.from('<title>x</title>'), 'text/html; charset=no-such-charset')).toContain('x');
  });
});

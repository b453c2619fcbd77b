// Open Graph data from an HTML page, with a small tolerant scanner (no DOM, no dependencies, one
// pass, linear time): og:/article:/profile: meta properties, twitter: fallbacks, and when the page
// has no Open Graph data the <title> (or first heading), an itemprop/large/first image or favicon,
// and a description from the meta description or the body text, as Synapse synthesises them.
// Also the charset detection the bytes need before they are text.

export type OpenGraph = Record<string, string>;

/** Longest description synthesised from the page (characters), as Synapse's summary. */
const DESCRIPTION_MAX = 500;
/** Body text collected for the description; the rest of the page is not looked at for text. */
const BODY_TEXT_BUDGET = 4000;
/** Meta properties kept per page. */
const MAX_META = 200;

/** Elements whose text is not page prose (navigation, scripts, media fallbacks). */
const SKIP_TEXT = new Set(['header', 'nav', 'aside', 'footer', 'script', 'noscript', 'style', 'svg', 'iframe', 'video', 'canvas', 'picture', 'template', 'select', 'button']);
/** Elements whose content is raw text up to their end tag. */
const RAW_TEXT = new Set(['script', 'style', 'textarea', 'title', 'xmp', 'noembed', 'noframes']);
const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', '#39': "'" };

export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z][A-Za-z0-9]{1,31});?/g, (whole, body: string) => {
    if (body[0] === '#') {
      const cp = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      if (!Number.isFinite(cp) || cp <= 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return '\ufffd';
      return String.fromCodePoint(cp);
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? whole;
  });
}

/** Attributes of a start tag (names lower-cased, values entity-decoded; the first of a repeated name wins). */
function parseAttributes(s: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const name = m[1]!.toLowerCase();
    if (!out.has(name)) out.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return out;
}

/** Index of the `>` closing a tag that starts at `from`, skipping quoted attribute values. */
function tagEnd(html: string, from: number): number {
  let quote = 0;
  for (let i = from; i < html.length; i++) {
    const c = html.charCodeAt(i);
    if (quote) {
      if (c === quote) quote = 0;
    } else if (c === 0x22 || c === 0x27) quote = c;
    else if (c === 0x3e) return i;
  }
  return -1;
}

function collapse(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Cuts text to at most `max` characters at a word boundary, with an ellipsis when cut. */
export function summarize(text: string, max = DESCRIPTION_MAX): string {
  const t = collapse(text);
  if (t.length <= max) return t;
  const cut = t.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

interface Img {
  src: string;
  area: number;
}

/** Scans an HTML document and returns its Open Graph data (synthesised where the page has none). */
export function parseOpenGraph(html: string): OpenGraph {
  const og: OpenGraph = {};
  const twitter: OpenGraph = {};
  let metaCount = 0;
  let title: string | undefined;
  let heading: string | undefined;
  let itempropImage: string | undefined;
  let metaDescription: string | undefined;
  let favicon: string | undefined;
  let firstImg: string | undefined;
  let largest: Img | undefined;
  let bodyText = '';
  let inHead = false;
  /** Open elements whose text is skipped, by name (counts, to tolerate missing end tags). */
  const skipping = new Map<string, number>();
  let skipDepth = 0;
  /** The heading element whose text is being captured, if any. */
  let capture: { tag: string; text: string } | undefined;

  // Text between two tags arrives in pieces (a stray "<" is text too); it is taken as one run.
  let textRun = '';
  const onText = (raw: string) => {
    textRun += raw;
  };
  const flushText = () => {
    const raw = textRun;
    if (raw === '') return;
    textRun = '';
    if (capture) capture.text += raw;
    if (inHead || skipDepth > 0 || bodyText.length >= BODY_TEXT_BUDGET) return;
    const t = collapse(decodeEntities(raw));
    if (t) bodyText += (bodyText ? ' ' : '') + t;
  };

  let pos = 0;
  const n = html.length;
  while (pos < n) {
    const lt = html.indexOf('<', pos);
    if (lt < 0) {
      onText(html.slice(pos));
      break;
    }
    if (lt > pos) onText(html.slice(pos, lt));
    if (html.startsWith('<!--', lt)) {
      const end = html.indexOf('-->', lt + 4);
      pos = end < 0 ? n : end + 3;
      continue;
    }
    const next = html.charCodeAt(lt + 1);
    if (next === 0x21 /* ! */ || next === 0x3f /* ? */) {
      const end = html.indexOf('>', lt + 2);
      pos = end < 0 ? n : end + 1;
      continue;
    }
    const closing = next === 0x2f; /* / */
    const nameStart = closing ? lt + 2 : lt + 1;
    const nameMatch = /^[A-Za-z][A-Za-z0-9:-]*/.exec(html.slice(nameStart, nameStart + 64));
    if (!nameMatch) {
      onText('<');
      pos = lt + 1;
      continue;
    }
    const tag = nameMatch[0].toLowerCase();
    const end = tagEnd(html, nameStart + nameMatch[0].length);
    if (end < 0) break;
    pos = end + 1;
    flushText();

    if (closing) {
      if (tag === 'head') inHead = false;
      const open = skipping.get(tag);
      if (open) {
        skipping.set(tag, open - 1);
        skipDepth--;
      }
      if (capture && capture.tag === tag) {
        const text = collapse(decodeEntities(capture.text));
        if (text && heading === undefined) heading = text;
        capture = undefined;
      }
      continue;
    }

    const attrs = parseAttributes(html.slice(nameStart + nameMatch[0].length, end));
    const selfClosing = html.charCodeAt(end - 1) === 0x2f;

    if (RAW_TEXT.has(tag)) {
      const close = new RegExp(`</${tag}\\s*>`, 'ig');
      close.lastIndex = pos;
      const m = close.exec(html);
      const content = html.slice(pos, m ? m.index : n);
      pos = m ? m.index + m[0].length : n;
      if (tag === 'title' && title === undefined) {
        const t = collapse(decodeEntities(content));
        if (t) title = t;
      }
      continue;
    }

    switch (tag) {
      case 'head':
        inHead = true;
        break;
      case 'body':
        inHead = false;
        break;
      case 'meta': {
        const content = attrs.get('content');
        if (content === undefined) break;
        const property = attrs.get('property') ?? attrs.get('name');
        if (property && metaCount < MAX_META) {
          const p = property.trim();
          const lower = p.toLowerCase();
          if (/^(og|article|profile):/i.test(p)) {
            if (!(lower in og)) {
              og[lower] = content;
              metaCount++;
            }
          } else if (lower.startsWith('twitter:')) {
            if (!(lower in twitter)) twitter[lower] = content;
          } else if (lower === 'description' && content !== '' && metaDescription === undefined) {
            metaDescription = content;
          }
        }
        if (attrs.get('itemprop')?.toLowerCase() === 'image' && content !== '' && itempropImage === undefined) itempropImage = content;
        break;
      }
      case 'link': {
        const rel = attrs.get('rel')?.toLowerCase() ?? '';
        const href = attrs.get('href');
        // rel="icon", "shortcut icon", "apple-touch-icon"...
        if (href && rel.includes('icon') && favicon === undefined) favicon = href;
        break;
      }
      case 'img': {
        const src = attrs.get('src');
        if (!src) break;
        if (firstImg === undefined) firstImg = src;
        const w = Number(attrs.get('width'));
        const h = Number(attrs.get('height'));
        if (w > 10 && h > 10 && (!largest || w * h > largest.area)) largest = { src, area: w * h };
        break;
      }
      case 'h1':
      case 'h2':
      case 'h3':
        if (heading === undefined && !capture) capture = { tag, text: '' };
        break;
    }
    if (SKIP_TEXT.has(tag) && !selfClosing && !VOID.has(tag)) {
      skipping.set(tag, (skipping.get(tag) ?? 0) + 1);
      skipDepth++;
    }
  }

  flushText();

  // Twitter cards fill in what Open Graph lacks.
  const fromTwitter: Record<string, string> = {
    'twitter:title': 'og:title',
    'twitter:description': 'og:description',
    'twitter:image': 'og:image',
    'twitter:image:src': 'og:image',
  };
  for (const [k, v] of Object.entries(twitter)) {
    const target = fromTwitter[k];
    if (target && !(target in og)) og[target] = v;
  }

  if (!('og:title' in og)) {
    const t = title ?? heading;
    if (t) og['og:title'] = t;
  }
  if (!('og:image' in og)) {
    const img = itempropImage ?? largest?.src ?? firstImg ?? favicon;
    if (img) og['og:image'] = img;
  }
  if (!('og:description' in og)) {
    const d = metaDescription ?? (bodyText ? summarize(bodyText) : undefined);
    if (d) og['og:description'] = d;
  } else if (og['og:description']) {
    og['og:description'] = summarize(og['og:description']);
  }
  return og;
}

/**
 * The character set of an HTML body: the Content-Type charset, a byte-order mark, or a
 * <meta charset> / http-equiv declaration in the first KiB; UTF-8 otherwise.
 */
export function detectCharset(bytes: Uint8Array, contentType: string | undefined): string {
  const fromHeader = contentType ? /;\s*charset\s*=\s*"?([A-Za-z0-9_:.+-]+)/i.exec(contentType)?.[1] : undefined;
  if (fromHeader) return fromHeader;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return 'utf-8';
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  const head = Buffer.from(bytes.subarray(0, 1024)).toString('latin1');
  const m = /<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]+)/i.exec(head);
  return m?.[1] ?? 'utf-8';
}

// windows-1252 at 0x80-0x9F (the rest is Latin-1). Node 20's TextDecoder decodes this encoding (and
// its WHATWG aliases latin1, iso-8859-1, ascii...) as plain Latin-1, so it is done here.
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

function decodeWindows1252(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    const codes = Array.from(bytes.subarray(i, i + 8192), (b) => (b >= 0x80 && b <= 0x9f ? CP1252_HIGH[b - 0x80]! : b));
    out += String.fromCharCode(...codes);
  }
  return out;
}

/** Decodes an HTML body to text in its declared or detected charset (UTF-8 when unknown). */
export function decodeHtml(bytes: Uint8Array, contentType: string | undefined): string {
  let decoder: InstanceType<typeof TextDecoder>;
  try {
    decoder = new TextDecoder(detectCharset(bytes, contentType));
  } catch {
    decoder = new TextDecoder('utf-8');
  }
  return decoder.encoding === 'windows-1252' ? decodeWindows1252(bytes) : decoder.decode(bytes);
}

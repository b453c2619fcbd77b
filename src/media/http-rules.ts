// Pure rules for serving media safely to browsers: which content types may be shown inline (spec
// "Serving inline content"), the Content-Disposition value (RFC 6266 / RFC 5987), the charset of
// text types, the stored content type of an upload, and single-range requests (RFC 9110 §14).

/** Spec "Serving inline content": the only types served with `Content-Disposition: inline`. SVG and HTML are not among them. */
export const INLINE_CONTENT_TYPES: ReadonlySet<string> = new Set([
  'text/css',
  'text/plain',
  'text/csv',
  'application/json',
  'application/ld+json',
  'image/jpeg',
  'image/gif',
  'image/png',
  'image/apng',
  'image/webp',
  'image/avif',
  'video/mp4',
  'video/webm',
  'video/ogg',
  'video/quicktime',
  'audio/mp4',
  'audio/webm',
  'audio/aac',
  'audio/mpeg',
  'audio/ogg',
  'audio/wave',
  'audio/wav',
  'audio/x-wav',
  'audio/x-pn-wav',
  'audio/flac',
  'audio/x-flac',
]);

/** Text types served with `; charset=UTF-8` when the upload named no charset (as Synapse). */
const TEXT_CONTENT_TYPES: ReadonlySet<string> = new Set([
  'text/css',
  'text/csv',
  'text/html',
  'text/calendar',
  'text/plain',
  'text/javascript',
  'application/json',
  'application/ld+json',
  'application/rtf',
  'image/svg+xml',
  'text/xml',
]);

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

// type "/" subtype, then any parameters; printable ASCII only (a header value we will send back).
const CONTENT_TYPE_RE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(?:\s*;[\x20-\x7e]*)?$/;

/** The content type to store for an upload: the client's header when well-formed, else application/octet-stream. */
export function uploadContentType(header: string | undefined): string {
  if (header === undefined) return DEFAULT_CONTENT_TYPE;
  const v = header.trim();
  if (v.length === 0 || v.length > 255 || !CONTENT_TYPE_RE.test(v)) return DEFAULT_CONTENT_TYPE;
  return v;
}

/** The type/subtype of a content type, lower-cased, without parameters. */
export function baseContentType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

export function isInlineContentType(contentType: string): boolean {
  return INLINE_CONTENT_TYPES.has(baseContentType(contentType));
}

/** The Content-Type header for stored media: as uploaded, plus a UTF-8 charset for text types without one. */
export function servedContentType(stored: string | null): string {
  const ct = stored && stored.length > 0 ? stored : DEFAULT_CONTENT_TYPE;
  if (TEXT_CONTENT_TYPES.has(ct.trim().toLowerCase())) return `${ct}; charset=UTF-8`;
  return ct;
}

// RFC 2616 token characters: any CHAR except CTLs, space and separators.
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** RFC 5987 attr-char percent-encoding of UTF-8 (encodeURIComponent leaves ' ( ) * which attr-char excludes). */
function encodeRfc5987(s: string): string {
  return encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The Content-Disposition header: `inline` only for the spec's inline-safe types (everything else,
 * HTML and SVG included, is an `attachment`), with the file name as an RFC 2616 token when it is
 * one, else as RFC 5987 `filename*=utf-8''...` (both forms of RFC 6266 §4.1, as Synapse sends them).
 */
export function contentDisposition(contentType: string, fileName: string | null | undefined, forceInline = false): string {
  const disposition = forceInline || isInlineContentType(contentType) ? 'inline' : 'attachment';
  if (!fileName) return disposition;
  if (TOKEN_RE.test(fileName)) return `${disposition}; filename=${fileName}`;
  return `${disposition}; filename*=utf-8''${encodeRfc5987(fileName)}`;
}

/** Whether a string is well-formed UTF-16 (no lone surrogates), so it can be encoded as UTF-8 faithfully. */
export function isWellFormedString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

export type RangeResult =
  /** Serve the whole file (no Range header, one we ignore, or several ranges). */
  | { kind: 'full' }
  /** Serve bytes start..end inclusive with 206. */
  | { kind: 'partial'; start: number; end: number }
  /** 416 with `Content-Range: bytes *\/size`. */
  | { kind: 'unsatisfiable' };

const RANGE_RE = /^bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i;

/**
 * Interprets a Range header for a file of `size` bytes (RFC 9110 §14.1.2, one range only). A
 * malformed header or several ranges are ignored (the whole file is served, as the RFC allows).
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  const m = RANGE_RE.exec(header);
  if (!m) return { kind: 'full' };
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return { kind: 'full' };
  if (a === '') {
    // Suffix range: the last N bytes.
    const n = Number(b);
    if (n === 0) return { kind: 'unsatisfiable' };
    if (size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  let end = b === '' ? size - 1 : Number(b);
  if (b !== '' && end < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  if (end >= size) end = size - 1;
  return { kind: 'partial', start, end };
}

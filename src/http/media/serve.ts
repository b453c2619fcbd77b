// Shared by the legacy /_matrix/media routes and the authenticated /_matrix/client/v1/media routes:
// serving a media file or thumbnail (browser-safe headers, single Range requests, HEAD, ETag),
// parsing the thumbnail and download query parameters, /config and /preview_url.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { MediaService } from '../../media/index.js';
import type { MediaFile, ThumbnailFile, ThumbnailRequest, GetMediaOptions } from '../../media/repository.js';
import { contentDisposition, parseRange, servedContentType, isWellFormedString } from '../../media/http-rules.js';

/** Spec "Content repository": the recommended policy, plus media-src as Synapse sends it. */
export const MEDIA_CSP = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';";

/** Media never changes once stored, so one constant validator serves every file (as Synapse). */
const ETAG = '"1"';

/** Synapse's caching: clients keep media a day; shared caches must revalidate (so auth is checked). */
const CACHE_CONTROL = 'public,max-age=86400,s-maxage=0,proxy-revalidate';

/** Largest thumbnail dimension accepted in a request. */
const MAX_THUMBNAIL_DIMENSION = 65_535;

function securityHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', MEDIA_CSP);
  // The non-standard form for old browsers, as Synapse.
  reply.header('x-content-security-policy', 'sandbox;');
  reply.header('x-content-type-options', 'nosniff');
  reply.header('cross-origin-resource-policy', 'cross-origin');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-robots-tag', 'noindex, nofollow, noarchive, noimageindex');
  reply.header('cache-control', CACHE_CONTROL);
  reply.header('etag', ETAG);
}

function notModified(req: FastifyRequest): boolean {
  const inm = req.headers['if-none-match'];
  if (typeof inm !== 'string') return false;
  return inm.split(',').some((t) => {
    const v = t.trim().replace(/^W\//, '');
    return v === ETAG || v === '*';
  });
}

async function fileSize(path: string): Promise<number> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error('not a file');
    return s.size;
  } catch {
    throw new MatrixError('M_NOT_FOUND', 'Media not found', 404);
  }
}

/**
 * Streams a file with its headers: 304 for a matching If-None-Match, 206 for one satisfiable
 * range, 416 for an unsatisfiable one, headers only for HEAD.
 */
async function sendFile(req: FastifyRequest, reply: FastifyReply, path: string, contentType: string, disposition: string): Promise<FastifyReply> {
  const size = await fileSize(path);
  securityHeaders(reply);
  if (notModified(req)) return reply.code(304).send();
  reply.header('content-type', contentType);
  reply.header('content-disposition', disposition);
  reply.header('accept-ranges', 'bytes');
  // If-Range with another validator means "send it all".
  const ifRange = req.headers['if-range'];
  const rangeHeader = typeof req.headers.range === 'string' && (ifRange === undefined || ifRange === ETAG) ? req.headers.range : undefined;
  const range = parseRange(rangeHeader, size);
  if (range.kind === 'unsatisfiable') {
    reply.header('content-range', `bytes */${size}`);
    throw new MatrixError('M_UNKNOWN', 'Requested range not satisfiable', 416);
  }
  let start = 0;
  let end = size - 1;
  if (range.kind === 'partial') {
    start = range.start;
    end = range.end;
    reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
  }
  reply.header('content-length', String(Math.max(0, end - start + 1)));
  // An empty stream rather than no payload: Fastify's HEAD handling then keeps our Content-Length.
  if (req.method === 'HEAD' || size === 0) return reply.send(Readable.from([]));
  return reply.send(createReadStream(path, { start, end, highWaterMark: 256 * 1024 }));
}

/** Serves downloaded media; `fileName` (from the URL) replaces the uploaded name in Content-Disposition. */
export function sendMedia(req: FastifyRequest, reply: FastifyReply, file: MediaFile, fileName?: string): Promise<FastifyReply> {
  if (fileName !== undefined && !isWellFormedString(fileName)) throw new MatrixError('M_INVALID_PARAM', 'Invalid file name', 400);
  const name = fileName !== undefined && fileName !== '' ? fileName : file.uploadName;
  return sendFile(req, reply, file.path, servedContentType(file.contentType), contentDisposition(file.contentType, name));
}

/** Serves a thumbnail: always inline (spec v1.12), named thumbnail.<ext>. */
export function sendThumbnail(req: FastifyRequest, reply: FastifyReply, t: ThumbnailFile): Promise<FastifyReply> {
  const ext = t.contentType.slice(t.contentType.indexOf('/') + 1);
  return sendFile(req, reply, t.path, t.contentType, contentDisposition(t.contentType, `thumbnail.${ext}`, true));
}

type Query = Record<string, string | undefined>;

/** The first value of each query parameter. */
export function firstQueryValues(q: unknown): Query {
  const out: Query = {};
  if (typeof q !== 'object' || q === null) return out;
  for (const [k, v] of Object.entries(q)) {
    const first = Array.isArray(v) ? v[0] : v;
    out[k] = typeof first === 'string' ? first : undefined;
  }
  return out;
}

function intParam(q: Query, name: string, opts: { required: boolean; min: number; max: number }): number | undefined {
  const raw = q[name];
  if (raw === undefined) {
    if (opts.required) throw new MatrixError('M_MISSING_PARAM', `Missing integer query parameter '${name}'`, 400);
    return undefined;
  }
  if (!/^-?\d{1,16}$/.test(raw)) throw new MatrixError('M_INVALID_PARAM', `Query parameter '${name}' must be an integer`, 400);
  const n = Number(raw);
  if (n < opts.min || n > opts.max) throw new MatrixError('M_INVALID_PARAM', `Query parameter '${name}' must be between ${opts.min} and ${opts.max}`, 400);
  return n;
}

function boolParam(q: Query, name: string, dflt: boolean): boolean {
  const raw = q[name];
  if (raw === undefined) return dflt;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new MatrixError('M_INVALID_PARAM', `Boolean query parameter '${name}' must be one of ['true', 'false']`, 400);
}

/** timeout_ms and allow_remote of a download or thumbnail request. */
export function mediaOptions(q: Query, legacy: boolean): GetMediaOptions {
  const timeoutMs = intParam(q, 'timeout_ms', { required: false, min: 0, max: Number.MAX_SAFE_INTEGER });
  return {
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    // Only the legacy endpoints have allow_remote (it stops servers fetching from themselves).
    allowRemote: legacy ? boolParam(q, 'allow_remote', true) : true,
    legacy,
  };
}

/** width, height, method (default scale) and animated of a thumbnail request. */
export function thumbnailRequest(q: Query): ThumbnailRequest {
  const width = intParam(q, 'width', { required: true, min: 1, max: MAX_THUMBNAIL_DIMENSION })!;
  const height = intParam(q, 'height', { required: true, min: 1, max: MAX_THUMBNAIL_DIMENSION })!;
  const method = (q.method ?? 'scale').toLowerCase();
  if (method !== 'crop' && method !== 'scale') throw new MatrixError('M_INVALID_PARAM', "Query parameter 'method' must be 'crop' or 'scale'", 400);
  return { width, height, method, animated: boolParam(q, 'animated', false) };
}

/** GET /preview_url: 404 M_UNRECOGNIZED when previews are off (Synapse), else the Open Graph JSON. */
export async function previewUrl(media: MediaService, userId: string, q: Query): Promise<unknown> {
  if (!media.previewer) throw new MatrixError('M_UNRECOGNIZED', 'URL previews are disabled', 404);
  const url = q.url;
  if (url === undefined || url === '') throw new MatrixError('M_MISSING_PARAM', "Missing string query parameter 'url'", 400);
  const ts = intParam(q, 'ts', { required: false, min: 0, max: Number.MAX_SAFE_INTEGER });
  return media.previewer.preview(url, userId, ts);
}

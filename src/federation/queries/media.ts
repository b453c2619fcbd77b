// Federated media (server-server API "Content Repository", spec v1.11): the multipart/mixed answer
// of /_matrix/federation/v1/media/download and /thumbnail (a JSON part, then the file), and the
// fetcher of another server's media for our clients: the federation endpoint first, the legacy
// /_matrix/media/v3/download?allow_remote=false when the peer does not know it, following a
// `Location` part within the IP range policy.
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import type { Logger } from 'pino';
import { MatrixError } from '../../errors.js';
import type { RemoteMediaFetcher, RemoteMediaResponse } from '../../media/repository.js';
import { FederationError, filteredLookup, type FederationClient, type TlsOptions } from '../client.js';
import type { IpRangePolicy } from '../ip-ranges.js';
import { lazyAgent, loadUndici } from '../../net/undici.js';

// ---- serving ----

export interface MultipartFile {
  readonly contentType: string;
  readonly disposition: string;
  readonly length: number;
  readonly stream: Readable;
}

/** The multipart/mixed body: `{}` as the metadata part, then the file, with its Content-Length. */
export function multipartBody(file: MultipartFile, boundary = randomBytes(16).toString('hex')): { contentType: string; length: number; body: Readable } {
  const head = Buffer.from(
    `--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n` +
      `--${boundary}\r\nContent-Type: ${file.contentType}\r\nContent-Disposition: ${file.disposition}\r\n\r\n`,
    'utf8',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');
  const body = new PassThrough();
  body.write(head);
  file.stream.on('error', (e) => body.destroy(e));
  file.stream.pipe(body, { end: false });
  file.stream.on('end', () => body.end(tail));
  return { contentType: `multipart/mixed; boundary=${boundary}`, length: head.length + file.length + tail.length, body };
}

// ---- fetching ----

/** The boundary parameter of a multipart Content-Type, or undefined. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/mixed\s*;/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** Header lines of a part ("Name: value" separated by CRLF), names lower-cased. */
export function parsePartHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

/** The file name of a Content-Disposition header (`filename*=UTF-8''...` preferred over `filename=`). */
export function dispositionFileName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[2]!.trim());
    } catch {
      // fall through to the plain parameter
    }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/i.exec(header);
  if (!plain) return undefined;
  return plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : plain[2]!.trim();
}

const MAX_PART_HEADER_BYTES = 64 * 1024;

/**
 * Splits a multipart/mixed stream: resolves with the headers of the metadata part and of the file
 * part once they are read, and a stream of the file part's bytes (up to the closing delimiter).
 */
export function splitMultipart(source: Readable, boundary: string): Promise<{ meta: string; headers: Record<string, string>; file: Readable }> {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      source.destroy();
      reject(e);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      // Preamble: the first delimiter may open the body without its CRLF.
      const text = buf.toString('latin1');
      const first = text.startsWith(`--${boundary}`) ? 0 : text.indexOf(`\r\n--${boundary}`);
      if (first < 0) {
        if (buf.length > MAX_PART_HEADER_BYTES) fail(new Error('multipart: no boundary'));
        return;
      }
      const metaStart = text.indexOf('\r\n\r\n', first);
      if (metaStart < 0) return;
      const second = text.indexOf(`\r\n--${boundary}`, metaStart);
      if (second < 0) {
        if (buf.length > MAX_PART_HEADER_BYTES) fail(new Error('multipart: metadata part too large'));
        return;
      }
      const fileHeadersEnd = text.indexOf('\r\n\r\n', second + delimiter.length);
      if (fileHeadersEnd < 0) {
        if (buf.length > MAX_PART_HEADER_BYTES) fail(new Error('multipart: part headers too large'));
        return;
      }
      source.off('data', onData);
      source.off('end', onEnd);
      source.pause();
      const meta = buf.subarray(metaStart + 4, second).toString('utf8');
      const headers = parsePartHeaders(buf.subarray(second + delimiter.length, fileHeadersEnd).toString('utf8'));
      const rest = buf.subarray(fileHeadersEnd + 4);
      const file = new PartBody(delimiter);
      source.on('error', (e) => file.destroy(e));
      if (rest.length > 0) file.write(rest);
      source.pipe(file);
      settled = true;
      resolve({ meta, headers, file });
    };
    const onEnd = () => fail(new Error('multipart: truncated'));
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', (e) => fail(e));
  });
}

/** Passes bytes through up to the first occurrence of the delimiter, then ignores the rest. */
class PartBody extends Transform {
  private tail: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(private readonly delimiter: Buffer) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.done) {
      cb();
      return;
    }
    const data = this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]);
    const at = data.indexOf(this.delimiter);
    if (at >= 0) {
      this.done = true;
      this.tail = Buffer.alloc(0);
      if (at > 0) this.push(data.subarray(0, at));
      cb();
      return;
    }
    const keep = Math.min(data.length, this.delimiter.length - 1);
    if (data.length > keep) this.push(data.subarray(0, data.length - keep));
    this.tail = Buffer.from(data.subarray(data.length - keep));
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (!this.done) {
      cb(new Error('multipart: the file part is not closed'));
      return;
    }
    cb();
  }
}

export interface MediaFetcherDeps {
  readonly client: FederationClient;
  readonly ipPolicy: IpRangePolicy;
  readonly tls: TlsOptions;
  readonly logger?: Logger | undefined;
}

const MAX_REDIRECTS = 5;

function errcodeOf(body: unknown): string | undefined {
  return typeof body === 'object' && body !== null && typeof (body as { errcode?: unknown }).errcode === 'string' ? (body as { errcode: string }).errcode : undefined;
}

async function readSmallJson(body: Readable): Promise<unknown> {
  let text = '';
  for await (const chunk of body) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > 64 * 1024) {
      body.destroy();
      return undefined;
    }
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The RemoteMediaFetcher of the media repository, over federation. */
export function createRemoteMediaFetcher(deps: MediaFetcherDeps): RemoteMediaFetcher & { close(): Promise<void> } {
  // `Location` redirects go wherever the remote says: through the same address policy.
  // undici is loaded by the first redirect followed (src/net/undici.ts), not at start.
  const agent = lazyAgent({
    connect: { lookup: filteredLookup(deps.ipPolicy), rejectUnauthorized: deps.tls.rejectUnauthorized, ...(deps.tls.ca ? { ca: deps.tls.ca } : {}) },
    keepAliveTimeout: 10_000,
  });

  async function followLocation(location: string, opts: { timeoutMs: number }): Promise<RemoteMediaResponse> {
    let url = new URL(location);
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new MatrixError('M_UNKNOWN', 'Remote media redirect to an unsupported URL', 502);
      const [undici, dispatcher] = await Promise.all([loadUndici(), agent.get()]);
      const res = await undici.request(url, { dispatcher, method: 'GET', signal: AbortSignal.timeout(opts.timeoutMs) });
      const loc = res.headers.location;
      if (res.statusCode >= 300 && res.statusCode < 400 && typeof loc === 'string') {
        res.body.resume();
        url = new URL(loc, url);
        continue;
      }
      if (res.statusCode !== 200) {
        res.body.resume();
        throw new MatrixError('M_UNKNOWN', `Remote media redirect answered ${res.statusCode}`, 502);
      }
      const type = res.headers['content-type'];
      const length = Number(res.headers['content-length']);
      const disposition = res.headers['content-disposition'];
      return {
        stream: res.body,
        contentType: typeof type === 'string' ? type : undefined,
        fileName: dispositionFileName(typeof disposition === 'string' ? disposition : undefined),
        ...(Number.isFinite(length) ? { contentLength: length } : {}),
      };
    }
    throw new MatrixError('M_UNKNOWN', 'Too many redirects fetching remote media', 502);
  }

  async function federated(origin: string, mediaId: string, opts: { maxBytes: number; timeoutMs: number }): Promise<RemoteMediaResponse | null | 'unknown-endpoint'> {
    const res = await deps.client.requestRaw(origin, 'GET', `/_matrix/federation/v1/media/download/${encodeURIComponent(mediaId)}?timeout_ms=${opts.timeoutMs}`, {
      timeoutMs: opts.timeoutMs + 5_000,
      maxBytes: opts.maxBytes + 64 * 1024,
    });
    if (res.status !== 200) {
      const body = await readSmallJson(res.body);
      const errcode = errcodeOf(body);
      if (res.status === 404 && errcode === 'M_NOT_FOUND') return null;
      if (res.status === 404 || res.status === 405 || (res.status === 400 && errcode === 'M_UNRECOGNIZED')) return 'unknown-endpoint';
      if (res.status === 502 && errcode === 'M_TOO_LARGE') throw new MatrixError('M_TOO_LARGE', 'Remote media is too large', 502);
      throw new FederationError(origin, res.status, `media download answered ${res.status} ${errcode ?? ''}`.trim(), { ...(errcode ? { errcode } : {}), body });
    }
    const boundary = multipartBoundary(res.headers['content-type']);
    if (!boundary) {
      res.body.destroy();
      throw new FederationError(origin, 0, 'media download answer is not multipart/mixed');
    }
    const parts = await splitMultipart(res.body, boundary);
    const location = parts.headers.location;
    if (location) {
      parts.file.destroy();
      return followLocation(location, opts);
    }
    const length = Number(parts.headers['content-length']);
    return {
      stream: parts.file,
      contentType: parts.headers['content-type'],
      fileName: dispositionFileName(parts.headers['content-disposition']),
      ...(Number.isFinite(length) ? { contentLength: length } : {}),
    };
  }

  async function legacy(origin: string, mediaId: string, opts: { maxBytes: number; timeoutMs: number }): Promise<RemoteMediaResponse | null> {
    const path = `/_matrix/media/v3/download/${encodeURIComponent(origin)}/${encodeURIComponent(mediaId)}?allow_remote=false&timeout_ms=${opts.timeoutMs}`;
    const res = await deps.client.requestRaw(origin, 'GET', path, { timeoutMs: opts.timeoutMs + 5_000, maxBytes: opts.maxBytes });
    if (res.status === 404) {
      res.body.resume();
      return null;
    }
    if (res.status !== 200) {
      const body = await readSmallJson(res.body);
      throw new FederationError(origin, res.status, `legacy media download answered ${res.status}`, { body });
    }
    const length = Number(res.headers['content-length']);
    return {
      stream: res.body,
      contentType: res.headers['content-type'],
      fileName: dispositionFileName(res.headers['content-disposition']),
      ...(Number.isFinite(length) ? { contentLength: length } : {}),
    };
  }

  return {
    async fetch(origin, mediaId, opts) {
      try {
        const r = await federated(origin, mediaId, opts);
        if (r !== 'unknown-endpoint') return r;
        deps.logger?.debug({ origin }, 'federation media download unknown there; using the legacy endpoint');
        return await legacy(origin, mediaId, opts);
      } catch (e) {
        if (e instanceof MatrixError) throw e;
        deps.logger?.warn({ origin, mediaId, err: (e as Error).message }, 'remote media fetch failed');
        throw new MatrixError('M_UNKNOWN', 'Failed to fetch remote media', 502);
      }
    },
    close: () => agent.close(),
  };
}

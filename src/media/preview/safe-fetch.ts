// Outbound HTTP(S) GET for URL previews, guarded against server-side request forgery: only http and
// https, every address a name resolves to is checked against the AddressPolicy at connect time (a
// DNS answer cannot swap in a private address after the check), IP literals are checked before
// connecting, redirects are followed by hand (at most 5) with each hop checked again, and the
// whole exchange has a time limit. Errors are MatrixErrors shaped as Synapse answers them.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { MatrixError } from '../../errors.js';
import type { AddressPolicy } from './address-policy.js';
import { lazyAgent, loadUndici } from '../../net/undici.js';

export const MAX_REDIRECTS = 5;

/** Error code our guarded lookup gives when every resolved address is refused. */
const BLOCKED_CODE = 'EAI_BLOCKED_BY_POLICY';

export interface SafeResponse {
  /** The final URL, after redirects. */
  url: URL;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The Content-Type header, or application/octet-stream. */
  contentType: string;
  /** Declared Content-Length, when given. */
  contentLength: number | undefined;
  body: Readable;
}

export interface SafeGetOptions {
  headers?: Record<string, string>;
  /** Refuses the response (502) before reading its body when this returns false. */
  acceptContentType?: (contentType: string) => boolean;
  /** Aborts the request, redirects and body included. */
  signal: AbortSignal;
}

export interface SafeFetcher {
  get(url: string | URL, opts: SafeGetOptions): Promise<SafeResponse>;
  close(): Promise<void>;
}

/** A dns.lookup that drops refused addresses and fails when none is left. */
function guardedLookup(policy: AddressPolicy): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number | string }, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true } as never, (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
      if (err) {
        callback(err);
        return;
      }
      const allowed = addresses.filter((a) => !policy.isBlocked(a.address));
      if (allowed.length === 0) {
        const e = new Error(`${hostname} resolves only to refused addresses`) as NodeJS.ErrnoException;
        e.code = BLOCKED_CODE;
        callback(e);
        return;
      }
      if (options.all) callback(null, allowed);
      else callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  }) as unknown as LookupFunction;
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

function isTimeout(e: unknown): boolean {
  const name = (e as Error | undefined)?.name;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return name === 'TimeoutError' || name === 'AbortError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

/** Walks the cause chain of an undici error looking for our lookup's refusal. */
function isBlockedByLookup(e: unknown): boolean {
  for (let cur = e as { code?: string; cause?: unknown } | undefined, i = 0; cur && i < 5; cur = cur.cause as typeof cur, i++) {
    if (cur.code === BLOCKED_CODE) return true;
  }
  return false;
}

/** Translates a network failure into the answer the client gets. */
export function fetchFailure(e: unknown): MatrixError {
  if (e instanceof MatrixError) return e;
  if (isBlockedByLookup(e)) return new MatrixError('M_UNKNOWN', 'DNS resolution failure during URL preview generation', 502);
  if (isTimeout(e)) return new MatrixError('M_UNKNOWN', 'Timed out fetching the URL', 504);
  const code = (e as { cause?: { code?: string } }).cause?.code ?? (e as NodeJS.ErrnoException).code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new MatrixError('M_UNKNOWN', 'DNS resolution failure during URL preview generation', 502);
  return new MatrixError('M_UNKNOWN', 'Failed to download content', 502);
}

export function createSafeFetcher(policy: AddressPolicy, opts: { connectTimeoutMs?: number } = {}): SafeFetcher {
  // undici is loaded by the first preview (src/net/undici.ts), not at start.
  const agent = lazyAgent({
    connect: { lookup: guardedLookup(policy), timeout: opts.connectTimeoutMs ?? 10_000 },
    // A slow server is cut off by the caller's signal; these are backstops.
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });

  async function get(url: string | URL, o: SafeGetOptions): Promise<SafeResponse> {
    let current = typeof url === 'string' ? new URL(url) : url;
    for (let hop = 0; ; hop++) {
      if (current.protocol !== 'http:' && current.protocol !== 'https:') {
        throw new MatrixError('M_UNKNOWN', 'Only http and https URLs can be previewed', 502);
      }
      // IP literals never go through the lookup, so they are checked here (URL has already turned
      // 2130706433 or 0x7f.1 into 127.0.0.1).
      const host = current.hostname.startsWith('[') ? current.hostname.slice(1, -1) : current.hostname;
      if (isIP(host) !== 0 && policy.isBlocked(host)) throw new MatrixError('M_UNKNOWN', 'IP address blocked', 403);
      let res: Dispatcher.ResponseData;
      try {
        const [undici, dispatcher] = await Promise.all([loadUndici(), agent.get()]);
        res = await undici.request(current, { dispatcher, method: 'GET', headers: o.headers ?? {}, signal: o.signal });
      } catch (e) {
        throw fetchFailure(e);
      }
      const status = res.statusCode;
      if (status >= 300 && status < 400 && status !== 304) {
        const location = headerValue(res.headers.location);
        discardBody(res.body);
        if (!location) throw new MatrixError('M_UNKNOWN', `Got error ${status}`, 502);
        if (hop >= MAX_REDIRECTS) throw new MatrixError('M_UNKNOWN', 'Too many redirects', 502);
        try {
          current = new URL(location, current);
        } catch {
          throw new MatrixError('M_UNKNOWN', 'Invalid redirect', 502);
        }
        continue;
      }
      if (status < 200 || status > 299) {
        discardBody(res.body);
        throw new MatrixError('M_UNKNOWN', `Got error ${status}`, 502);
      }
      const contentType = headerValue(res.headers['content-type']) ?? 'application/octet-stream';
      if (o.acceptContentType && !o.acceptContentType(contentType)) {
        discardBody(res.body);
        throw new MatrixError('M_UNKNOWN', `Requested file's content type not allowed for this operation: ${contentType}`, 502);
      }
      const lengthHeader = headerValue(res.headers['content-length']);
      const contentLength = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
      return { url: current, status, headers: res.headers, contentType, contentLength, body: res.body };
    }
  }

  return {
    get,
    close: () => agent.close(),
  };
}

/** Drops a response body we will not read (undici reports the abort as an error event: ignored). */
export function discardBody(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Reads a body into memory, failing with 502 M_TOO_LARGE beyond `maxBytes`. */
export async function readLimited(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of body) {
      const b = chunk as Buffer;
      n += b.length;
      if (n > maxBytes) {
        discardBody(body);
        throw new MatrixError('M_TOO_LARGE', `Requested file is too large > ${maxBytes} bytes`, 502);
      }
      chunks.push(b);
    }
  } catch (e) {
    throw fetchFailure(e);
  }
  return Buffer.concat(chunks, n);
}

// The X-Matrix Authorization scheme (server-server API "Request Authentication"): the signed JSON
// object a request covers, writing the header, and parsing it leniently (pure, no I/O).
import type { SigningKey } from '../core/crypto/ed25519.js';
import { computeJsonSignature, verifyJsonSignature } from '../core/crypto/signing.js';
import type { JsonObject, JsonValue } from '../core/json/types.js';

export interface XMatrixParams {
  origin: string;
  /** Absent in headers written by servers older than spec v1.3. */
  destination?: string;
  key: string;
  sig: string;
}

export interface SignableRequest {
  method: string;
  /** The request target: path plus query string, exactly as sent on the wire. */
  uri: string;
  origin: string;
  destination: string;
  /** The parsed JSON body; left out for requests without one. */
  content?: JsonValue | undefined;
}

/**
 * The object whose signature goes into the header: `{method, uri, origin, destination, content}`,
 * `content` only when the request has a body ("Request Authentication").
 */
export function requestSigningObject(req: SignableRequest): JsonObject {
  const obj: JsonObject = { method: req.method, uri: req.uri, origin: req.origin, destination: req.destination };
  if (req.content !== undefined) obj.content = req.content;
  return obj;
}

// A token per RFC 9110 section 5.6.2 ("tchar"); server names and key IDs are tokens.
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function quote(value: string): string {
  // Quote everything (Synapse and Dendrite do); escape per RFC 9110 quoted-string.
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * `X-Matrix origin="..",destination="..",key="..",sig=".."`: no spaces after the commas, as
 * some implementations split on "," only and would keep the space in the parameter name.
 */
export function formatXMatrixHeader(p: XMatrixParams): string {
  const parts = [`origin=${quote(p.origin)}`];
  if (p.destination !== undefined) parts.push(`destination=${quote(p.destination)}`);
  parts.push(`key=${quote(p.key)}`, `sig=${quote(p.sig)}`);
  return `X-Matrix ${parts.join(',')}`;
}

// A request body is not bound to a room version: a /send transaction may carry v1-v5 events that
// hold fractions, which Synapse signs as Python writes them. Both directions encode numbers that way.
const REQUEST_NUMBERS = { legacyNumbers: true } as const;

/** Signs the request with our key and returns the Authorization header value. */
export function signRequest(req: SignableRequest, key: SigningKey): string {
  const sig = computeJsonSignature(requestSigningObject(req), key, REQUEST_NUMBERS);
  return formatXMatrixHeader({ origin: req.origin, destination: req.destination, key: key.keyId, sig });
}

/**
 * Checks the signature of an X-Matrix header against the origin's public key (unpadded base64).
 * `destination` is the destination the signature covers: the header's own if it has one, else our
 * server name (older servers sign it without writing it in the header).
 */
export function verifyRequestSignature(
  req: { method: string; uri: string; content?: JsonValue | undefined },
  params: XMatrixParams,
  destination: string,
  publicKey: string,
): boolean {
  const signed = requestSigningObject({ ...req, origin: params.origin, destination });
  signed.signatures = { [params.origin]: { [params.key]: params.sig } };
  return verifyJsonSignature(signed, params.origin, params.key, publicKey, REQUEST_NUMBERS);
}

/**
 * Splits the parameter list of an auth header into name/value pairs (RFC 9110 "auth-param"):
 * `name = value` separated by commas, with optional whitespace anywhere between the pieces, values
 * either tokens or quoted strings (commas and escapes allowed inside quotes). Parameter names are
 * case-insensitive. Lenient about unquoted values carrying characters outside tchar (e.g. `:` in
 * `origin=localhost:8448`, `+`/`/` in base64 signatures): everything up to the next comma counts.
 * Returns null on malformed input (an unterminated quote, a missing `=`).
 */
function parseAuthParams(s: string): Map<string, string> | null {
  const out = new Map<string, string>();
  let i = 0;
  const n = s.length;
  const skipSpace = () => {
    while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  while (i < n) {
    skipSpace();
    if (i < n && s[i] === ',') {
      // Empty list elements are allowed ("a=1,,b=2").
      i++;
      continue;
    }
    if (i >= n) break;
    const nameStart = i;
    while (i < n && s[i] !== '=' && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
    const name = s.slice(nameStart, i).toLowerCase();
    if (!TOKEN_RE.test(name)) return null;
    skipSpace();
    if (s[i] !== '=') return null;
    i++;
    skipSpace();
    let value: string;
    if (s[i] === '"') {
      i++;
      let v = '';
      let closed = false;
      while (i < n) {
        const c = s[i]!;
        if (c === '\\' && i + 1 < n) {
          v += s[i + 1];
          i += 2;
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        v += c;
        i++;
      }
      if (!closed) return null;
      value = v;
      skipSpace();
      if (i < n && s[i] !== ',') return null;
    } else {
      const start = i;
      while (i < n && s[i] !== ',') i++;
      value = s.slice(start, i).trim();
    }
    // The first occurrence of a parameter wins.
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

/**
 * Parses an Authorization header value of the X-Matrix scheme (scheme name case-insensitive).
 * Returns null when it is another scheme or lacks origin, key or sig. Unknown parameters are ignored.
 */
export function parseXMatrixHeader(value: string): XMatrixParams | null {
  if (typeof value !== 'string') return null;
  const m = /^\s*x-matrix(?:\s+|$)/i.exec(value);
  if (!m) return null;
  const params = parseAuthParams(value.slice(m[0].length));
  if (!params) return null;
  const origin = params.get('origin');
  const key = params.get('key');
  const sig = params.get('sig');
  if (!origin || !key || !sig) return null;
  const destination = params.get('destination');
  const out: XMatrixParams = { origin, key, sig };
  if (destination !== undefined && destination !== '') out.destination = destination;
  return out;
}

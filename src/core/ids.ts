// Grammar of Matrix identifiers (spec appendices "Identifier Grammar"): server names, user IDs,
// room IDs, room aliases and event IDs, plus the suggested localpart mapping.

import { isIPv6 } from 'node:net';
import type { EventIdFormat } from './events/room-versions.js';

/** "the length of an ID, including the sigil and the domain, MUST NOT exceed 255 bytes". */
export const MAX_ID_BYTES = 255;

export type ServerNameKind = 'ipv4' | 'ipv6' | 'dns';

export interface ParsedServerName {
  /** The hostname: a DNS name, a dotted-quad IPv4 address, or an IPv6 address WITHOUT its
   * square brackets (ready for `net.connect`; re-add the brackets for a Host header or a URL). */
  host: string;
  /** The explicit port, 1..65535, if the server name carries one. */
  port?: number;
  kind: ServerNameKind;
}

// ASCII-only fast paths; anything failing them is examined more carefully.
const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IPV6_CHARS_RE = /^[0-9A-Fa-f:.]{2,45}$/;
const DNS_RE = /^[A-Za-z0-9.-]{1,255}$/;
const PORT_RE = /^[0-9]{1,5}$/;

function parsePort(s: string): number | null {
  if (!PORT_RE.test(s)) return null;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : null;
}

/**
 * Parses a server name: `hostname [":" port]` where hostname is an IPv4 literal, an IPv6 literal in
 * brackets (RFC 3513 text form) or a DNS name of `[A-Za-z0-9.-]`, at most 255 characters.
 * Returns null when the string is not a valid server name.
 *
 * A host made only of four dot-separated digit groups is treated as an IPv4 literal and must have
 * every group in 0..255 (`1.2.3.256` is rejected rather than read as a DNS name: no real DNS name
 * is all-numeric).
 */
export function parseServerName(s: string): ParsedServerName | null {
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_ID_BYTES) return null;
  if (s.charCodeAt(0) === 0x5b /* [ */) {
    const close = s.indexOf(']');
    if (close < 0) return null;
    const addr = s.slice(1, close);
    if (!IPV6_CHARS_RE.test(addr) || !isIPv6(addr)) return null;
    const rest = s.slice(close + 1);
    if (rest === '') return { host: addr, kind: 'ipv6' };
    if (rest.charCodeAt(0) !== 0x3a /* : */) return null;
    const port = parsePort(rest.slice(1));
    return port === null ? null : { host: addr, port, kind: 'ipv6' };
  }
  const colon = s.indexOf(':');
  const host = colon < 0 ? s : s.slice(0, colon);
  let port: number | undefined;
  if (colon >= 0) {
    const p = parsePort(s.slice(colon + 1));
    if (p === null) return null;
    port = p;
  }
  let kind: ServerNameKind;
  const m = IPV4_RE.exec(host);
  if (m) {
    for (let i = 1; i <= 4; i++) if (Number(m[i]) > 255) return null;
    kind = 'ipv4';
  } else if (DNS_RE.test(host)) {
    kind = 'dns';
  } else return null;
  return port === undefined ? { host, kind } : { host, port, kind };
}

export function isValidServerName(s: string): boolean {
  return parseServerName(s) !== null;
}

/** UTF-8 length without allocating a Buffer for the common all-ASCII case. */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/** True when the whole identifier fits the spec's 255-byte limit (UTF-8 bytes, not characters). */
export function fitsIdLength(id: string): boolean {
  return id.length <= MAX_ID_BYTES && utf8Length(id) <= MAX_ID_BYTES;
}

// A lone (unpaired) UTF-16 surrogate: not a Unicode code point, so never valid in an identifier.
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The lenient localpart grammar shared by historical user IDs, v1-v11 room IDs, room aliases and
 * v1 event IDs: "any valid non-surrogate Unicode code points except `:` and NUL" (the caller has
 * already split at the first `:`, so only NUL and lone surrogates remain to reject).
 */
function isLenientLocalpart(s: string): boolean {
  return !s.includes('\u0000') && !LONE_SURROGATE_RE.test(s);
}

interface SplitId {
  localpart: string;
  serverName: string;
}

/** Splits `<sigil>localpart:server_name` at the first colon and checks both halves. */
function splitDomainId(s: string, sigil: string): SplitId | null {
  if (typeof s !== 'string' || s[0] !== sigil || !fitsIdLength(s)) return null;
  const colon = s.indexOf(':');
  if (colon < 0) return null;
  const localpart = s.slice(1, colon);
  const serverName = s.slice(colon + 1);
  if (!isLenientLocalpart(localpart) || parseServerName(serverName) === null) return null;
  return { localpart, serverName };
}

export interface ParsedUserId {
  localpart: string;
  /** The server name including any port, e.g. `localhost:8448`. */
  serverName: string;
}

/**
 * Parses a user ID as servers must accept it over federation ("Historical User IDs"): the localpart
 * may be any non-surrogate code points except `:` and NUL, even empty; the domain must be a valid
 * server name; the whole ID at most 255 bytes. Use `isValidLocalpartForRegistration` for new users
 * and `isCompliantUserId` before exposing an ID outside an event.
 */
export function parseUserId(s: string): ParsedUserId | null {
  return splitDomainId(s, '@');
}

export function isValidUserId(s: string): boolean {
  return parseUserId(s) !== null;
}

const COMPLIANT_LOCALPART_RE = /^[\x21-\x39\x3b-\x7e]+$/;

/**
 * "User IDs with localparts containing characters outside the range U+0021 to U+007E, or with an
 * empty localpart, are considered non-compliant": such IDs are accepted in events, but SHOULD NOT be
 * forwarded to clients outside the context of an event (e.g. device list updates).
 */
export function isCompliantUserId(s: string): boolean {
  const p = parseUserId(s);
  return p !== null && COMPLIANT_LOCALPART_RE.test(p.localpart);
}

const REGISTRATION_LOCALPART_RE = /^[a-z0-9._=\-/+]+$/;

/** The current user ID grammar (`user_id_char`), which new accounts MUST satisfy. */
export function isValidLocalpartForRegistration(localpart: string): boolean {
  return typeof localpart === 'string' && REGISTRATION_LOCALPART_RE.test(localpart);
}

// 32-byte SHA-256 digests encode to 43 unpadded base64 characters.
const HASH_ID_STD_RE = /^[A-Za-z0-9+/]{43}$/;
const HASH_ID_URL_RE = /^[A-Za-z0-9_-]{43}$/;

/**
 * A room ID: `!opaque:server_name` (room versions 1-11) or `!` + the URL-safe unpadded base64
 * reference hash of the create event (v12: no domain). With `roomIdFromCreateEvent` given (the
 * room version's flag), only that version family's form is accepted.
 */
export function isValidRoomId(s: string, roomIdFromCreateEvent?: boolean): boolean {
  if (typeof s !== 'string' || s[0] !== '!' || !fitsIdLength(s)) return false;
  const hashForm = !s.includes(':');
  if (roomIdFromCreateEvent !== undefined && hashForm !== roomIdFromCreateEvent) return false;
  if (hashForm) return HASH_ID_URL_RE.test(s.slice(1));
  return splitDomainId(s, '!') !== null;
}

/** `#alias:server_name`; the localpart is any non-surrogate code points except `:` and NUL. */
export function isValidRoomAlias(s: string): boolean {
  return splitDomainId(s, '#') !== null;
}

/**
 * An event ID: `$opaque:server_name` (v1, rooms v1-v2), `$` + 43 chars of unpadded standard base64
 * (v3) or of URL-safe base64 (v4+). With `format` given, only that room version family's form.
 */
export function isValidEventId(s: string, format?: EventIdFormat): boolean {
  if (typeof s !== 'string' || s[0] !== '$' || !fitsIdLength(s)) return false;
  const rest = s.slice(1);
  if (s.includes(':')) return (format === undefined || format === 'v1') && splitDomainId(s, '$') !== null;
  switch (format) {
    case 'v1':
      return false;
    case 'v3':
      return HASH_ID_STD_RE.test(rest);
    case 'v4':
      return HASH_ID_URL_RE.test(rest);
    default:
      return HASH_ID_STD_RE.test(rest) || HASH_ID_URL_RE.test(rest);
  }
}

/**
 * The server name part of a user ID, room alias, v1-v11 room ID or v1 event ID (everything after the
 * first `:`, including any port). Undefined for IDs without a domain (v12 room IDs, hash event IDs)
 * and for strings that are not valid IDs.
 */
export function serverNameOf(id: string): string | undefined {
  if (typeof id !== 'string') return undefined;
  const sigil = id[0];
  if (sigil !== '@' && sigil !== '#' && sigil !== '!' && sigil !== '$') return undefined;
  return splitDomainId(id, sigil)?.serverName;
}

/**
 * The spec's suggested mapping from another character set onto user ID localparts
 * ("Mapping from other character sets"): UTF-8 encode; A-Z lower-cased (with `preserveCase`, an
 * upper-case letter becomes `_` + its lower case and a real `_` is doubled); every other byte
 * outside the allowed set, and `=` itself, becomes `=` + two lower-case hex digits.
 */
export function mapToUserIdLocalpart(input: string, preserveCase = false): string {
  let out = '';
  for (const b of Buffer.from(input, 'utf8')) {
    if (b >= 0x41 && b <= 0x5a) {
      const lower = String.fromCharCode(b + 0x20);
      out += preserveCase ? '_' + lower : lower;
    } else if (b === 0x5f /* _ */) {
      out += preserveCase ? '__' : '_';
    } else if (
      (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) ||
      b === 0x2e /* . */ || b === 0x2d /* - */ || b === 0x2f /* / */ || b === 0x2b /* + */
    ) {
      out += String.fromCharCode(b);
    } else {
      out += '=' + b.toString(16).padStart(2, '0');
    }
  }
  return out;
}

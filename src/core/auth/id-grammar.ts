// Private identifier helpers for the auth rules: the server part of IDs and the (historical) user
// ID grammar of appendices "User Identifiers" / "Server Name". Kept here so the auth rules do not
// wait on src/core/ids.ts; they are deliberately lenient where the spec says servers MUST accept.

/** The part after the first `:` of a user ID, v1 event ID or v1-v11 room ID; '' when there is none. */
export function serverNameOf(id: string): string {
  const i = id.indexOf(':');
  return i < 0 ? '' : id.slice(i + 1);
}

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IPV6_BODY_RE = /^[0-9A-Fa-f:.]{2,45}$/;
const DNS_NAME_RE = /^[A-Za-z0-9.-]{1,255}$/;
const PORT_RE = /^\d{1,5}$/;

/** appendices "Server Name": hostname [":" port], hostname = IPv4 / "[" IPv6 "]" / dns-name. */
export function isValidServerName(name: string): boolean {
  let host = name;
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    if (close < 0) return false;
    const rest = name.slice(close + 1);
    if (rest !== '' && !(rest.startsWith(':') && PORT_RE.test(rest.slice(1)))) return false;
    return IPV6_BODY_RE.test(name.slice(1, close));
  }
  const colon = name.lastIndexOf(':');
  if (colon >= 0) {
    if (!PORT_RE.test(name.slice(colon + 1))) return false;
    host = name.slice(0, colon);
  }
  const v4 = IPV4_RE.exec(host);
  if (v4) return v4.slice(1).every((octet) => Number(octet) <= 255);
  return DNS_NAME_RE.test(host);
}

const textEncoder = new TextEncoder();

/**
 * A user ID as servers must accept it in events (appendices "Historical User IDs"): `@`, a
 * localpart of any code points except `:` and NUL (possibly empty), `:`, a valid server name, and
 * at most 255 bytes in all. This is the check the auth rules apply to power-level `users` keys and
 * to v12 `additional_creators` ("the same user ID validation applied to sender").
 */
export function isValidUserId(id: string): boolean {
  if (id.length < 3 || id.charCodeAt(0) !== 0x40 /* @ */) return false;
  // UTF-8 needs at most 3 bytes per UTF-16 code unit, so IDs of up to 85 units always fit.
  if (id.length > 255 || (id.length > 85 && textEncoder.encode(id).length > 255)) return false;
  const colon = id.indexOf(':');
  if (colon < 0) return false;
  if (id.indexOf('\u0000') >= 0) return false;
  return isValidServerName(id.slice(colon + 1));
}

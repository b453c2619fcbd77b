// Server access control lists (client-server API `m.room.server_acl`, server-server API "Server
// Access Control Lists"): whether a server may take part in a room. Pure; the caller reads the state.
import { parseServerName } from '../core/ids.js';
import { isJsonObject, type JsonValue } from '../core/json/types.js';

const globCache = new Map<string, RegExp>();

/** `*` matches any run of characters, `?` exactly one; case-insensitive, as Synapse matches. */
function globRegex(glob: string): RegExp {
  let re = globCache.get(glob);
  if (re) return re;
  let src = '';
  for (const c of glob) {
    if (c === '*') src += '.*';
    else if (c === '?') src += '.';
    else src += c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  re = new RegExp(`^${src}$`, 'is');
  if (globCache.size > 5_000) globCache.clear();
  globCache.set(glob, re);
  return re;
}

function stringsOf(v: JsonValue | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * Whether `serverName` passes the ACL whose content is given. The host is matched without its port;
 * IPv6 literals keep their brackets, as written in server names. Checks, in the spec's order: IP
 * literals when `allow_ip_literals` is false (a non-boolean counts as true), then `deny`, then
 * `allow` (absent or empty: nobody). Malformed entries (non-strings) are ignored.
 */
export function serverAclAllows(content: JsonValue | undefined, serverName: string): boolean {
  if (!isJsonObject(content)) return true;
  const parsed = parseServerName(serverName);
  if (!parsed) return false;
  const host = parsed.kind === 'ipv6' ? `[${parsed.host}]` : parsed.host;
  const allowIpLiterals = typeof content.allow_ip_literals === 'boolean' ? content.allow_ip_literals : true;
  if (!allowIpLiterals && parsed.kind !== 'dns') return false;
  if (stringsOf(content.deny).some((g) => globRegex(g).test(host))) return false;
  return stringsOf(content.allow).some((g) => globRegex(g).test(host));
}

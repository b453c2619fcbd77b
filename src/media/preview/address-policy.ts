// Which IP addresses the URL previewer may connect to: a blacklist of ranges (Synapse's
// url_preview_ip_range_blacklist, private/loopback/link-local by default) with a whitelist of
// exceptions; 0.0.0.0 and :: are always refused. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
// are judged as the IPv4 address they carry (node's BlockList does this).
import { BlockList, isIP } from 'node:net';

function toBlockList(ranges: readonly string[]): BlockList {
  const list = new BlockList();
  for (const r of ranges) {
    const slash = r.indexOf('/');
    const addr = slash < 0 ? r : r.slice(0, slash);
    const family = isIP(addr);
    if (family === 0) throw new Error(`not an IP range: ${r}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (slash < 0) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(r.slice(slash + 1)), type);
  }
  return list;
}

export class AddressPolicy {
  private readonly blocked: BlockList;
  private readonly allowed: BlockList;

  constructor(blacklist: readonly string[], whitelist: readonly string[]) {
    this.blocked = toBlockList([...blacklist, '0.0.0.0/32', '::/128']);
    this.allowed = toBlockList(whitelist);
  }

  /** Whether connecting to `ip` is refused. Anything that is not an IP address is refused. */
  isBlocked(ip: string): boolean {
    const family = isIP(ip);
    if (family === 0) return true;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed.check(ip, type)) return false;
    return this.blocked.check(ip, type);
  }
}

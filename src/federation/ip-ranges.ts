// Which IP addresses outbound federation may connect to: Synapse's ip_range_blacklist (private,
// loopback, link-local and reserved ranges by default) with ip_range_whitelist exceptions;
// 0.0.0.0 and :: are always refused. IPv4-mapped IPv6 addresses are judged as their IPv4 address.
import { BlockList, isIP } from 'node:net';

function addRange(list: BlockList, range: string): void {
  const slash = range.indexOf('/');
  const addr = slash < 0 ? range : range.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) throw new Error(`not an IP range: ${range}`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const mapped = family === 6 ? mappedIpv4(addr) : undefined;
  if (slash < 0) {
    list.addAddress(addr, type);
    if (mapped) list.addAddress(mapped, 'ipv4');
    return;
  }
  const bits = Number(range.slice(slash + 1));
  list.addSubnet(addr, bits, type);
  // A range written in the mapped form (::ffff:10.0.0.0/104) also covers the plain IPv4 addresses.
  if (mapped && bits >= 96) list.addSubnet(mapped, bits - 96, 'ipv4');
}

/**
 * The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, `::ffff:7f00:1`, with or without
 * leading zero groups) carries, or undefined for any other address.
 */
export function mappedIpv4(ipv6: string): string | undefined {
  const groups = expandIpv6(ipv6);
  if (!groups) return undefined;
  for (let i = 0; i < 5; i++) if (groups[i] !== 0) return undefined;
  if (groups[5] !== 0xffff) return undefined;
  const hi = groups[6]!;
  const lo = groups[7]!;
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** The eight 16-bit groups of an IPv6 address (zone index dropped), or undefined if it is not one. */
function expandIpv6(addr: string): number[] | undefined {
  const pct = addr.indexOf('%');
  const a = pct < 0 ? addr : addr.slice(0, pct);
  if (isIP(a) !== 6) return undefined;
  let head = a;
  let tail: number[] = [];
  // A trailing dotted quad stands for the last two groups.
  const lastColon = a.lastIndexOf(':');
  const last = a.slice(lastColon + 1);
  if (last.includes('.')) {
    const q = last.split('.').map(Number);
    tail = [(q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!];
    head = a.slice(0, lastColon + 1) + '0';
    // "0" placeholder keeps the group count right; removed below.
  }
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const dbl = head.indexOf('::');
  let groups: number[];
  if (dbl >= 0) {
    const left = parse(head.slice(0, dbl));
    const right = parse(head.slice(dbl + 2));
    const want = 8 - (tail.length ? 1 : 0);
    groups = [...left, ...new Array<number>(want - left.length - right.length).fill(0), ...right];
  } else groups = parse(head);
  if (tail.length) groups = [...groups.slice(0, groups.length - 1), ...tail];
  return groups.length === 8 ? groups : undefined;
}

export class IpRangePolicy {
  private readonly blocked = new BlockList();
  private readonly allowed = new BlockList();

  constructor(blacklist: readonly string[], whitelist: readonly string[]) {
    for (const r of [...blacklist, '0.0.0.0/32', '::/128']) addRange(this.blocked, r);
    for (const r of whitelist) addRange(this.allowed, r);
  }

  /** Whether connecting to `ip` is refused. Anything that is not an IP address is refused. */
  isBlocked(ip: string): boolean {
    const pct = ip.indexOf('%');
    const bare = pct < 0 ? ip : ip.slice(0, pct);
    const family = isIP(bare);
    if (family === 0) return true;
    if (bare === '0.0.0.0' || bare === '::') return true;
    const mapped = family === 6 ? mappedIpv4(bare) : undefined;
    const addr = mapped ?? bare;
    const type = mapped || family === 4 ? 'ipv4' : 'ipv6';
    if (mapped === '0.0.0.0') return true;
    if (this.allowed.check(addr, type)) return false;
    return this.blocked.check(addr, type);
  }
}

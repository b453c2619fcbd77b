// The outbound IP policy: Synapse's default blacklist, the whitelist, IPv4-mapped IPv6 addresses.
import { describe, expect, it } from 'vitest';
import { DEFAULT_IP_RANGE_BLACKLIST } from '../../src/config/schema.js';
import { IpRangePolicy, mappedIpv4 } from '../../src/federation/ip-ranges.js';

describe('mappedIpv4', () => {
  it.each([
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['0:0:0:0:0:ffff:10.1.2.3', '10.1.2.3'],
    ['::FFFF:c0a8:0101', '192.168.1.1'],
    ['::ffff:8.8.8.8', '8.8.8.8'],
    ['::1', undefined],
    ['2001:db8::1', undefined],
    ['::ffff:1:127.0.0.1', undefined],
    ['::127.0.0.1', undefined],
    ['127.0.0.1', undefined],
    ['nonsense', undefined],
  ])('%s -> %s', (addr, expected) => {
    expect(mappedIpv4(addr)).toBe(expected);
  });
});

describe('IpRangePolicy with the default blacklist', () => {
  const policy = new IpRangePolicy(DEFAULT_IP_RANGE_BLACKLIST, []);
  it.each([
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['10.0.0.1', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['100.64.0.1', true],
    ['100.128.0.1', false],
    ['169.254.169.254', true],
    ['192.0.0.8', true],
    ['192.0.2.1', true],
    ['192.88.99.1', true],
    ['198.18.0.1', true],
    ['198.19.255.255', true],
    ['198.51.100.7', true],
    ['203.0.113.9', true],
    ['224.0.0.1', true],
    ['239.255.255.255', true],
    ['0.0.0.0', true],
    ['8.8.8.8', false],
    ['1.1.1.1', false],
    ['::1', true],
    ['::', true],
    ['fe80::1', true],
    ['fe80::1%eth0', true],
    ['fc00::1', true],
    ['fd12:3456::1', true],
    ['2001:db8::1', true],
    ['ff02::1', true],
    ['fec0::1', true],
    ['2001:4860:4860::8888', false],
    // IPv4-mapped IPv6 is judged as the IPv4 address it carries.
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['::ffff:10.0.0.1', true],
    ['::ffff:169.254.169.254', true],
    ['::ffff:0.0.0.0', true],
    ['::ffff:8.8.8.8', false],
    ['not an ip', true],
    ['', true],
  ])('%s blocked: %s', (ip, blocked) => {
    expect(policy.isBlocked(ip)).toBe(blocked);
  });
});

describe('IpRangePolicy whitelist', () => {
  const policy = new IpRangePolicy(DEFAULT_IP_RANGE_BLACKLIST, ['127.0.0.0/8', '::1/128', '10.1.0.0/16']);
  it.each([
    ['127.0.0.1', false],
    ['::ffff:127.0.0.1', false],
    ['::1', false],
    ['10.1.2.3', false],
    ['10.2.0.1', true],
    ['192.168.0.1', true],
    // 0.0.0.0 and :: stay refused whatever the lists say.
    ['0.0.0.0', true],
    ['::', true],
  ])('%s blocked: %s', (ip, blocked) => {
    expect(policy.isBlocked(ip)).toBe(blocked);
  });

  it('an empty blacklist allows everything but 0.0.0.0 and ::', () => {
    const open = new IpRangePolicy([], []);
    expect(open.isBlocked('127.0.0.1')).toBe(false);
    expect(open.isBlocked('0.0.0.0')).toBe(true);
    expect(open.isBlocked('::')).toBe(true);
  });

  it('ranges written in the mapped form cover the plain IPv4 addresses too', () => {
    const p = new IpRangePolicy(['::ffff:8.8.8.0/120'], []);
    expect(p.isBlocked('8.8.8.8')).toBe(true);
    expect(p.isBlocked('::ffff:8.8.8.8')).toBe(true);
    expect(p.isBlocked('8.8.4.4')).toBe(false);
  });

  it('refuses a malformed range at construction', () => {
    expect(() => new IpRangePolicy(['10.0.0.0/8', 'bogus'], [])).toThrow(/not an IP range/);
  });
});

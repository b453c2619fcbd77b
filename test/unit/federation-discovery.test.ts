// Server discovery decision tables ("Resolving server names") with mocked well-known and SRV
// lookups, the well-known body and caching rules, and SRV ordering.
import { describe, expect, it } from 'vitest';
import {
  decideWellKnownEntry,
  orderSrvRecords,
  parseWellKnownBody,
  resolveServerName,
  wellKnownCacheMs,
  WellKnownCache,
  WELL_KNOWN_DEFAULT_CACHE_MS,
  WELL_KNOWN_DOWN_RETRY_MS,
  WELL_KNOWN_ERROR_CACHE_MS,
  WELL_KNOWN_MAX_CACHE_MS,
  WELL_KNOWN_MIN_CACHE_MS,
  createServerResolver,
  type DiscoveryLookups,
  type SrvRecord,
  type WellKnownFetchOutcome,
} from '../../src/federation/discovery.js';

interface World {
  wellKnown?: Record<string, string>;
  srv?: Record<string, SrvRecord[]>;
}

function lookups(world: World, calls: string[] = []): DiscoveryLookups {
  return {
    async wellKnown(host) {
      calls.push(`wk:${host}`);
      const d = world.wellKnown?.[host];
      return d === undefined ? { delegated: undefined, reason: 'none' } : { delegated: d };
    },
    async srv(name) {
      calls.push(`srv:${name}`);
      return world.srv?.[name] ?? [];
    },
  };
}

const srv = (name: string, port: number, priority = 10, weight = 0): SrvRecord => ({ name, port, priority, weight });

describe('resolveServerName', () => {
  const cases: {
    name: string;
    server: string;
    world: World;
    targets: [string, number][];
    host: string;
    sni: string | undefined;
    calls: string[];
  }[] = [
    {
      name: '1. IPv4 literal, default port',
      server: '1.2.3.4',
      world: {},
      targets: [['1.2.3.4', 8448]],
      host: '1.2.3.4',
      sni: undefined,
      calls: [],
    },
    {
      name: '1. IPv4 literal with port',
      server: '1.2.3.4:1234',
      world: {},
      targets: [['1.2.3.4', 1234]],
      host: '1.2.3.4:1234',
      sni: undefined,
      calls: [],
    },
    {
      name: '1. IPv6 literal with port',
      server: '[2001:db8::1]:8000',
      world: {},
      targets: [['2001:db8::1', 8000]],
      host: '[2001:db8::1]:8000',
      sni: undefined,
      calls: [],
    },
    {
      name: '2. hostname with explicit port: no well-known, no SRV',
      server: 'example.org:8009',
      world: { wellKnown: { 'example.org': 'other.example' } },
      targets: [['example.org', 8009]],
      host: 'example.org:8009',
      sni: 'example.org',
      calls: [],
    },
    {
      name: '2. localhost:port (the test harness names)',
      server: 'localhost:40123',
      world: {},
      targets: [['localhost', 40123]],
      host: 'localhost:40123',
      sni: 'localhost',
      calls: [],
    },
    {
      name: '3.1 well-known delegates to an IP literal',
      server: 'example.org',
      world: { wellKnown: { 'example.org': '5.6.7.8' } },
      targets: [['5.6.7.8', 8448]],
      host: '5.6.7.8',
      sni: undefined,
      calls: ['wk:example.org'],
    },
    {
      name: '3.1 well-known delegates to an IPv6 literal with port',
      server: 'example.org',
      world: { wellKnown: { 'example.org': '[::2]:9000' } },
      targets: [['::2', 9000]],
      host: '[::2]:9000',
      sni: undefined,
      calls: ['wk:example.org'],
    },
    {
      name: '3.2 well-known delegates to host:port (no SRV)',
      server: 'example.org',
      world: { wellKnown: { 'example.org': 'matrix.example.org:443' }, srv: { '_matrix-fed._tcp.matrix.example.org': [srv('x', 1)] } },
      targets: [['matrix.example.org', 443]],
      host: 'matrix.example.org:443',
      sni: 'matrix.example.org',
      calls: ['wk:example.org'],
    },
    {
      name: '3.3 well-known delegates to a host with _matrix-fed SRV',
      server: 'example.org',
      world: {
        wellKnown: { 'example.org': 'matrix.example.org' },
        srv: { '_matrix-fed._tcp.matrix.example.org': [srv('fed.example.net.', 8443)], '_matrix-fed._tcp.example.org': [srv('wrong', 1)] },
      },
      targets: [['fed.example.net', 8443]],
      host: 'matrix.example.org',
      sni: 'matrix.example.org',
      calls: ['wk:example.org', 'srv:_matrix-fed._tcp.matrix.example.org'],
    },
    {
      name: '3.4 well-known delegate with only the deprecated _matrix SRV',
      server: 'example.org',
      world: { wellKnown: { 'example.org': 'matrix.example.org' }, srv: { '_matrix._tcp.matrix.example.org': [srv('old.example.net', 8500)] } },
      targets: [['old.example.net', 8500]],
      host: 'matrix.example.org',
      sni: 'matrix.example.org',
      calls: ['wk:example.org', 'srv:_matrix-fed._tcp.matrix.example.org', 'srv:_matrix._tcp.matrix.example.org'],
    },
    {
      name: '3.5 well-known delegate without SRV: port 8448',
      server: 'example.org',
      world: { wellKnown: { 'example.org': 'matrix.example.org' } },
      targets: [['matrix.example.org', 8448]],
      host: 'matrix.example.org',
      sni: 'matrix.example.org',
      calls: ['wk:example.org', 'srv:_matrix-fed._tcp.matrix.example.org', 'srv:_matrix._tcp.matrix.example.org'],
    },
    {
      name: '4. no well-known, _matrix-fed SRV',
      server: 'example.org',
      world: { srv: { '_matrix-fed._tcp.example.org': [srv('a.example.net', 1111)] } },
      targets: [['a.example.net', 1111]],
      host: 'example.org',
      sni: 'example.org',
      calls: ['wk:example.org', 'srv:_matrix-fed._tcp.example.org'],
    },
    {
      name: '5. no well-known, deprecated _matrix SRV',
      server: 'example.org',
      world: { srv: { '_matrix._tcp.example.org': [srv('b.example.net', 2222)] } },
      targets: [['b.example.net', 2222]],
      host: 'example.org',
      sni: 'example.org',
      calls: ['wk:example.org', 'srv:_matrix-fed._tcp.example.org', 'srv:_matrix._tcp.example.org'],
    },
    {
      name: '6. nothing: hostname:8448',
      server: 'example.org',
      world: {},
      targets: [['example.org', 8448]],
      host: 'example.org',
      sni: 'example.org',
      calls: ['wk:example.org', 'srv:_matrix-fed._tcp.example.org', 'srv:_matrix._tcp.example.org'],
    },
    {
      name: 'SRV target "." means no service there: falls through',
      server: 'example.org',
      world: { srv: { '_matrix-fed._tcp.example.org': [srv('.', 0)] } },
      targets: [['example.org', 8448]],
      host: 'example.org',
      sni: 'example.org',
      calls: ['wk:example.org', 'srv:_matrix-fed._tcp.example.org', 'srv:_matrix._tcp.example.org'],
    },
    {
      name: 'an invalid m.server is ignored (steps 4-6)',
      server: 'example.org',
      world: { wellKnown: { 'example.org': 'bad host!' } },
      targets: [['example.org', 8448]],
      host: 'example.org',
      sni: 'example.org',
      calls: ['wk:example.org', 'srv:_matrix-fed._tcp.example.org', 'srv:_matrix._tcp.example.org'],
    },
  ];

  it.each(cases)('$name', async (c) => {
    const calls: string[] = [];
    const r = await resolveServerName(c.server, lookups(c.world, calls), () => 0);
    expect(r.targets.map((t) => [t.host, t.port])).toEqual(c.targets);
    expect(r.hostHeader).toBe(c.host);
    expect(r.tlsServerName).toBe(c.sni);
    expect(r.serverName).toBe(c.server);
    expect(calls).toEqual(c.calls);
  });

  it('refuses something that is not a server name', async () => {
    await expect(resolveServerName('not a server', lookups({}))).rejects.toThrow(/not a valid server name/);
    await expect(resolveServerName('example.org:99999', lookups({}))).rejects.toThrow();
  });
});

describe('orderSrvRecords', () => {
  it('sorts by priority, then weighted-random within a priority, dropping "."', () => {
    const records = [srv('c', 3, 20), srv('a', 1, 10, 0), srv('.', 0, 5), srv('b1', 2, 10, 90), srv('b2', 2, 10, 10)];
    // random 0 picks the first record with weight > 0 in the pool.
    expect(orderSrvRecords(records, () => 0).map((t) => t.host)).toEqual(['b1', 'b2', 'a', 'c']);
    // random near 1 picks the last record with weight in the pool.
    expect(orderSrvRecords(records, () => 0.999).map((t) => t.host)).toEqual(['b2', 'b1', 'a', 'c']);
  });
  it('strips the trailing dot of targets', () => {
    expect(orderSrvRecords([srv('host.example.', 8448)])).toEqual([{ host: 'host.example', port: 8448 }]);
  });
});

describe('well-known body', () => {
  it.each([
    ['{"m.server": "matrix.example.org:443"}', 'matrix.example.org:443'],
    ['{"m.server": "matrix.example.org", "other": 1}', 'matrix.example.org'],
    ['{"m.server": "[::1]:8448"}', '[::1]:8448'],
    ['{"m.server": ""}', undefined],
    ['{"m.server": "https://matrix.example.org"}', undefined],
    ['{"m.server": 5}', undefined],
    ['{}', undefined],
    ['[]', undefined],
    ['not json', undefined],
    ['', undefined],
  ])('%s -> %s', (body, delegated) => {
    expect(parseWellKnownBody(body).delegated).toBe(delegated);
  });
});

describe('wellKnownCacheMs', () => {
  const now = Date.parse('2024-01-01T00:00:00Z');
  it.each([
    [{}, WELL_KNOWN_DEFAULT_CACHE_MS],
    [{ 'cache-control': 'max-age=3600' }, 3600_000],
    [{ 'cache-control': 'public, max-age=7200' }, 7200_000],
    [{ 'cache-control': 'max-age=10' }, WELL_KNOWN_MIN_CACHE_MS],
    [{ 'cache-control': 'max-age=999999999' }, WELL_KNOWN_MAX_CACHE_MS],
    [{ 'cache-control': 'no-store' }, WELL_KNOWN_MIN_CACHE_MS],
    [{ 'cache-control': 'no-cache' }, WELL_KNOWN_MIN_CACHE_MS],
    [{ expires: 'Mon, 01 Jan 2024 06:00:00 GMT' }, 6 * 3600_000],
    [{ expires: 'Mon, 01 Jan 2024 06:00:00 GMT', date: 'Mon, 01 Jan 2024 05:00:00 GMT' }, 3600_000],
    [{ expires: '0' }, WELL_KNOWN_MIN_CACHE_MS],
    [{ 'cache-control': 'max-age=3600', expires: 'Mon, 01 Jan 2024 06:00:00 GMT' }, 3600_000],
  ] as [Record<string, string>, number][])('%j -> %d', (headers, ms) => {
    expect(wellKnownCacheMs(headers, now)).toBe(ms);
  });
});

describe('well-known cache decisions', () => {
  const now = 1_000_000_000;
  const ok = (body: string, headers: Record<string, string> = {}): WellKnownFetchOutcome => ({ kind: 'response', status: 200, headers, body });

  it('a valid answer is cached per its headers and remembered for the grace period', () => {
    const e = decideWellKnownEntry(ok('{"m.server":"m.example:443"}', { 'cache-control': 'max-age=3600' }), undefined, now);
    expect(e.result).toEqual({ delegated: 'm.example:443' });
    expect(e.expiresAt).toBe(now + 3600_000);
    expect(e.lastValid?.delegated).toBe('m.example:443');
  });
  it('non-200 and invalid bodies are cached for an hour', () => {
    expect(decideWellKnownEntry({ kind: 'response', status: 404, headers: {}, body: '' }, undefined, now)).toMatchObject({
      result: { delegated: undefined },
      expiresAt: now + WELL_KNOWN_ERROR_CACHE_MS,
    });
    expect(decideWellKnownEntry(ok('{"x":1}'), undefined, now)).toMatchObject({ result: { delegated: undefined }, expiresAt: now + WELL_KNOWN_ERROR_CACHE_MS });
  });
  it('a server gone unreachable keeps its last valid answer for a while and is retried sooner', () => {
    const previous = { lastValid: { delegated: 'm.example:443', graceUntil: now + 1000 } };
    const e = decideWellKnownEntry({ kind: 'unreachable', reason: 'ECONNREFUSED' }, previous, now);
    expect(e.result).toEqual({ delegated: 'm.example:443' });
    expect(e.expiresAt).toBe(now + WELL_KNOWN_DOWN_RETRY_MS);
    const late = decideWellKnownEntry({ kind: 'unreachable', reason: 'ECONNREFUSED' }, previous, now + 2000);
    expect(late.result.delegated).toBeUndefined();
    expect(late.expiresAt).toBe(now + 2000 + WELL_KNOWN_ERROR_CACHE_MS);
  });
  it('an invalid 200 answer does not keep an older valid one (the server changed its mind)', () => {
    const previous = { lastValid: { delegated: 'm.example:443', graceUntil: now + 1000 } };
    expect(decideWellKnownEntry(ok('nope'), previous, now).result.delegated).toBeUndefined();
  });
});

describe('WellKnownCache', () => {
  it('fetches once for concurrent callers, serves from cache until expiry, then fetches again', async () => {
    let now = 0;
    let fetches = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const cache = new WellKnownCache(async () => {
      fetches++;
      await gate;
      return { kind: 'response', status: 200, headers: { 'cache-control': 'max-age=600' }, body: '{"m.server":"d.example:1"}' };
    }, () => now);
    const all = Promise.all([cache.lookup('Example.org'), cache.lookup('example.org'), cache.lookup('example.org')]);
    release();
    expect((await all).map((r) => r.delegated)).toEqual(['d.example:1', 'd.example:1', 'd.example:1']);
    expect(fetches).toBe(1);
    now = 599_000;
    await cache.lookup('example.org');
    expect(fetches).toBe(1);
    now = 600_001;
    await cache.lookup('example.org');
    expect(fetches).toBe(2);
  });

  it('a throwing fetcher counts as unreachable and is cached as an error', async () => {
    let fetches = 0;
    const cache = new WellKnownCache(async () => {
      fetches++;
      throw new Error('boom');
    }, () => 0);
    expect((await cache.lookup('x.example')).delegated).toBeUndefined();
    expect((await cache.lookup('x.example')).delegated).toBeUndefined();
    expect(fetches).toBe(1);
  });
});

describe('createServerResolver', () => {
  it('caches resolutions and coalesces concurrent ones', async () => {
    let srvCalls = 0;
    const wellKnown = new WellKnownCache(async () => ({ kind: 'response', status: 404, headers: {}, body: '' }), () => 0);
    const resolver = createServerResolver({
      wellKnown,
      srv: async (name) => {
        srvCalls++;
        return name === '_matrix-fed._tcp.example.org' ? [srv('t.example', 9)] : [];
      },
      clock: () => 0,
    });
    const [a, b] = await Promise.all([resolver.resolve('example.org'), resolver.resolve('example.org')]);
    expect(a).toEqual(b);
    expect(a.targets).toEqual([{ host: 't.example', port: 9 }]);
    await resolver.resolve('example.org');
    expect(srvCalls).toBe(1);
  });
});

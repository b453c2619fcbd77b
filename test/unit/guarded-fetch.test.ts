// The guarded fetch used for push gateways refuses blacklisted addresses (literal or resolved) unless whitelisted.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IP_RANGE_BLACKLIST } from '../../src/config/schema.js';
import { IpRangePolicy } from '../../src/federation/ip-ranges.js';
import { createGuardedFetch } from '../../src/net/guarded-fetch.js';

let server: Server;
let port: number;
beforeAll(async () => {
  server = createServer((_req, res) => res.end('{"rejected":[]}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('guarded fetch', () => {
  it('refuses loopback by default, by IP literal and by DNS name', async () => {
    const f = createGuardedFetch(new IpRangePolicy([...DEFAULT_IP_RANGE_BLACKLIST], []));
    await expect(f(`http://127.0.0.1:${port}/_matrix/push/v1/notify`, { method: 'POST', body: '{}' })).rejects.toThrow();
    await expect(f(`http://localhost:${port}/_matrix/push/v1/notify`, { method: 'POST', body: '{}' })).rejects.toThrow();
  });

  it('allows a whitelisted range', async () => {
    const f = createGuardedFetch(new IpRangePolicy([...DEFAULT_IP_RANGE_BLACKLIST], ['127.0.0.0/8']));
    const res = await f(`http://127.0.0.1:${port}/_matrix/push/v1/notify`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ rejected: [] });
  });
});

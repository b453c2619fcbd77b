// A fetch for requests the server makes to URLs that users choose (push gateways): every address it
// connects to is checked against ip_range_blacklist/whitelist at connect time, so a DNS name pointing
// at a private address (or rebinding to one) is refused, as Synapse does for its outbound HTTP.
import { isIP } from 'node:net';
import { filteredLookup, BlockedAddressError } from '../federation/client.js';
import type { IpRangePolicy } from '../federation/ip-ranges.js';
import { lazyAgent, loadUndici } from './undici.js';

export function createGuardedFetch(policy: IpRangePolicy): typeof fetch {
  // undici is loaded by the first delivery (src/net/undici.ts), not at start.
  const agent = lazyAgent({ connect: { lookup: filteredLookup(policy) }, keepAliveTimeout: 30_000 });
  const guarded = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input.toString() : input.url);
    // An IP literal is never looked up, so it is checked here.
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (isIP(host) && policy.isBlocked(host)) throw new BlockedAddressError(host, [host]);
    // No redirects: a gateway that redirects could point us anywhere.
    const [undici, dispatcher] = await Promise.all([loadUndici(), agent.get()]);
    return (await undici.fetch(url, { ...(init as object), redirect: 'manual', dispatcher } as Parameters<typeof undici.fetch>[1])) as unknown as Response;
  };
  return guarded as typeof fetch;
}

// GET /_matrix/key/v2/server, and the deprecated GET /_matrix/key/v2/server/{keyId} (same body, keyId
// may be empty): this server's signed key (server-server API "Publishing Keys").
import type { FastifyInstance } from 'fastify';
import { signJson } from '../../core/crypto/signing.js';
import type { JsonObject } from '../../core/json/types.js';
import type { AppServices, ServerKeys } from '../app.js';

/** How long one signed answer is reused before signing a fresh one (valid_until_ts moves on). */
export const SERVER_KEY_CACHE_MS = 60_000;

/**
 * The signed key document: `verify_keys` holds the current key, `old_verify_keys` every key we
 * signed with before (always present, `{}` when none, as older servers expect it), signed by the
 * current key under our server name.
 */
export function signedServerKeys(serverName: string, keys: ServerKeys, validUntilTs: number): JsonObject {
  const oldVerifyKeys: JsonObject = {};
  for (const k of keys.old) oldVerifyKeys[k.keyId] = { key: k.publicKey, expired_ts: k.expiredTs };
  const body: JsonObject = {
    server_name: serverName,
    valid_until_ts: validUntilTs,
    verify_keys: { [keys.current.keyId]: { key: keys.current.publicKey } },
    old_verify_keys: oldVerifyKeys,
  };
  return signJson(body, serverName, keys.current);
}

export function serverKeyRoutes(services: AppServices) {
  const clock = services.clock ?? Date.now;
  const refreshMs = services.config.key_refresh_interval;
  // Never cache past half the validity window, so a short key_refresh_interval still leaves the
  // served valid_until_ts comfortably in the future.
  const cacheMs = Math.min(SERVER_KEY_CACHE_MS, Math.floor(refreshMs / 2));
  let cached: { text: string; until: number } | undefined;

  function current(): string {
    const now = clock();
    if (cached && now < cached.until) return cached.text;
    const doc = signedServerKeys(services.config.server_name, services.serverKeys, now + refreshMs);
    cached = { text: JSON.stringify(doc), until: now + cacheMs };
    return cached.text;
  }

  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/_matrix/key/v2/server', async (_request, reply) => {
      reply.type('application/json').send(current());
    });
    // Older servers ask for one key ID (or none, with a trailing slash); servers answer every such
    // request with the whole document.
    app.get('/_matrix/key/v2/server/:keyId', async (_request, reply) => {
      reply.type('application/json').send(current());
    });
    app.get('/_matrix/key/v2/server/', async (_request, reply) => {
      reply.type('application/json').send(current());
    });
  };
}

// POST /_matrix/key/v2/query and GET /_matrix/key/v2/query/{serverName} (and the deprecated
// /query/{serverName}/{keyId}): this server as a notary (server-server API "Querying Keys Through
// Another Server"), answering with other servers' key responses signed by us too, and our own.
import type { FastifyInstance } from 'fastify';
import { isValidServerName } from '../../core/ids.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import type { NotaryRequest } from '../../federation/keys.js';
import type { AppServices } from '../app.js';
import { signedServerKeys } from '../keys/server.js';

/** Servers one query may ask about (each may cost an outbound fetch). */
export const MAX_NOTARY_SERVERS = 200;

function parseMinimumValidUntil(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^-?\d{1,16}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new MatrixError('M_INVALID_PARAM', 'minimum_valid_until_ts must be an integer', 400);
  return n;
}

/** The notary requests of a POST body: `{server_keys: {server: {keyId: {minimum_valid_until_ts?}}}}`. */
export function parseNotaryQueryBody(body: unknown): NotaryRequest[] {
  if (!isJsonObject(body) || !isJsonObject(body.server_keys)) throw new MatrixError('M_BAD_JSON', 'server_keys must be an object', 400);
  const entries = Object.entries(body.server_keys);
  if (entries.length > MAX_NOTARY_SERVERS) throw new MatrixError('M_BAD_JSON', `at most ${MAX_NOTARY_SERVERS} servers per query`, 400);
  const out: NotaryRequest[] = [];
  for (const [serverName, keys] of entries) {
    if (!isJsonObject(keys)) throw new MatrixError('M_BAD_JSON', `server_keys.${serverName} must be an object`, 400);
    if (!isValidServerName(serverName)) continue;
    let minimum: number | undefined;
    const keyIds: string[] = [];
    for (const [keyId, criteria] of Object.entries(keys as JsonObject)) {
      keyIds.push(keyId);
      const m = isJsonObject(criteria) ? parseMinimumValidUntil(criteria.minimum_valid_until_ts) : undefined;
      if (m !== undefined && (minimum === undefined || m > minimum)) minimum = m;
    }
    out.push({ serverName, keyIds, ...(minimum !== undefined ? { minimumValidUntilTs: minimum } : {}) });
  }
  return out;
}

export function notaryRoutes(services: AppServices) {
  const clock = services.clock ?? Date.now;
  const ourName = services.config.server_name;

  async function answer(requests: NotaryRequest[]): Promise<{ server_keys: JsonObject[] }> {
    const keyRing = services.federation?.keyRing;
    if (keyRing) return { server_keys: await keyRing.notaryQuery(requests) };
    // Without the federation area we can only vouch for ourselves.
    const now = clock();
    const own = requests.some((r) => r.serverName === ourName);
    return { server_keys: own ? [signedServerKeys(ourName, services.serverKeys, now + services.config.key_refresh_interval)] : [] };
  }

  return async function routes(app: FastifyInstance): Promise<void> {
    app.post('/_matrix/key/v2/query', async (req) => answer(parseNotaryQueryBody(req.body)));

    const byServer = async (params: { serverName: string; keyId?: string }, query: Record<string, unknown>) => {
      if (!isValidServerName(params.serverName)) throw new MatrixError('M_INVALID_PARAM', 'Invalid server name', 400);
      const q = query['minimum_valid_until_ts'];
      const minimum = parseMinimumValidUntil(Array.isArray(q) ? q[0] : q);
      return answer([
        { serverName: params.serverName, keyIds: params.keyId ? [params.keyId] : [], ...(minimum !== undefined ? { minimumValidUntilTs: minimum } : {}) },
      ]);
    };
    app.get('/_matrix/key/v2/query/:serverName', async (req) =>
      byServer(req.params as { serverName: string }, (req.query ?? {}) as Record<string, unknown>),
    );
    app.get('/_matrix/key/v2/query/:serverName/:keyId', async (req) =>
      byServer(req.params as { serverName: string; keyId: string }, (req.query ?? {}) as Record<string, unknown>),
    );
  };
}

// GET /sync (Client-Server API "Syncing"), under v3 and r0; and buildSyncService, which connects the
// sync service to the other areas' sources in AppServices.
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { MatrixError } from '../../errors.js';
import { clientRoute } from './route.js';
import { createSyncService, MAX_SYNC_TIMEOUT_MS, type SyncService } from '../../sync/service.js';
import type { SyncSources } from '../../sync/sources.js';
import { parseSyncToken } from '../../sync/token.js';

/**
 * The sources /sync reads, looked up in `services` at each request (typing, receipts, presence and
 * push are services of their own, to-device and device keys come from e2ee; `services.syncSources` can
 * supply any of them otherwise).
 */
export function syncSourcesOf(services: AppServices): SyncSources {
  return {
    get typing() {
      return services.typing ?? services.syncSources?.typing;
    },
    get receipts() {
      return services.receipts ?? services.syncSources?.receipts;
    },
    get presence() {
      return services.presence ?? services.syncSources?.presence;
    },
    get notificationCounts() {
      return services.push ?? services.syncSources?.notificationCounts;
    },
    get toDevice() {
      return services.toDevice ?? services.syncSources?.toDevice;
    },
    get deviceKeys() {
      return services.deviceKeys ?? services.syncSources?.deviceKeys;
    },
  };
}

/** The sync service over `services` (store and notifier required). Build one per server. */
export function buildSyncService(services: AppServices): SyncService | undefined {
  const { store, notifier } = services;
  if (!store || !notifier) return undefined;
  const deps = {
    store,
    notifier,
    users: services.users,
    sources: syncSourcesOf(services),
    ...(services.clock ? { clock: services.clock } : {}),
    get txnLookup() {
      return services.txns?.lookup;
    },
    get aggregations() {
      return services.relations?.aggregations;
    },
    get pushRules() {
      return services.push;
    },
  };
  return createSyncService(deps);
}

const PRESENCE_VALUES = new Set(['online', 'offline', 'unavailable']);

function parseBoolean(name: string, v: string | undefined): boolean {
  if (v === undefined || v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw new MatrixError('M_INVALID_PARAM', `${name} must be true or false`);
}

export function syncRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users } = services;
    if (!users) return;
    const sync = services.sync ?? buildSyncService(services);
    if (!sync) return;
    if (!services.sync) services.sync = sync;

    // Long-polls end (with what they have) when this listener closes, so shutdown does not wait.
    const closing = new AbortController();
    app.addHook('preClose', async () => closing.abort());

    clientRoute(app, users, {
      method: 'GET',
      path: '/sync',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, query, reply }) => {
        if (query.from !== undefined) throw new MatrixError('M_INVALID_PARAM', "'from' is not a valid parameter of /sync; did you mean 'since'?");
        let since = undefined;
        if (query.since !== undefined && query.since !== '') {
          since = parseSyncToken(query.since);
          if (!since) throw new MatrixError('M_INVALID_PARAM', 'Invalid since token');
        }
        let timeoutMs = 0;
        if (query.timeout !== undefined && query.timeout !== '') {
          if (!/^[0-9]{1,16}$/.test(query.timeout)) throw new MatrixError('M_INVALID_PARAM', 'timeout must be a non-negative integer');
          timeoutMs = Math.min(Number(query.timeout), MAX_SYNC_TIMEOUT_MS);
        }
        const fullState = parseBoolean('full_state', query.full_state);
        const useStateAfter = parseBoolean('use_state_after', query.use_state_after);
        const setPresence = query.set_presence;
        if (setPresence !== undefined && !PRESENCE_VALUES.has(setPresence)) {
          throw new MatrixError('M_INVALID_PARAM', 'set_presence must be one of online, offline, unavailable');
        }
        const filter = await sync.resolveFilter(requester.userId, query.filter);

        // The client went away: stop waiting (the response's 'close' before it was sent).
        const gone = new AbortController();
        const onClose = () => {
          if (!reply.raw.writableEnded) gone.abort();
        };
        reply.raw.on('close', onClose);
        try {
          return await sync.sync({
            userId: requester.userId,
            deviceId: requester.deviceId === '' ? undefined : requester.deviceId,
            txnScope: requester.deviceId !== '' ? requester.deviceId : `token:${requester.accessTokenId}`,
            since,
            timeoutMs,
            fullState,
            setPresence: setPresence as 'online' | 'offline' | 'unavailable' | undefined,
            filter,
            useStateAfter,
            signal: AbortSignal.any([gone.signal, closing.signal]),
          });
        } finally {
          reply.raw.off('close', onClose);
        }
      },
    });
  };
}

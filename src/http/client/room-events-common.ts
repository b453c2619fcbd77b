// Shared by the room-event routes (send, state, members, event, context, messages, redact, relations,
// threads): the RoomEventsService of an app's services, and query-parameter parsing.
import { MatrixError } from '../../errors.js';
import type { AppServices } from '../app.js';
import { createClientTxns } from '../../rooms/transactions.js';
import { createRelationsService } from '../../rooms/relations.js';
import { createRoomEventsService, type RoomEventsService } from '../../rooms/room-events.js';
import { isRoomForgotten, validateCanonicalAlias } from '../../rooms/lifecycle/index.js';

const built = new WeakMap<AppServices, RoomEventsService | null>();

/**
 * The room-events service: `services.roomEvents` when the server built one, else one built from the
 * store and the rooms writer (with the transaction and relations registries of the store, which are
 * also set in `services` when absent). Undefined without a store or rooms writer: then the routes
 * are not mounted.
 */
export function roomEventsOf(services: AppServices): RoomEventsService | undefined {
  if (services.roomEvents) return services.roomEvents;
  let s = built.get(services);
  if (s === undefined) {
    const { store, rooms } = services;
    if (!store || !rooms) s = null;
    else {
      const now = services.clock ?? Date.now;
      // Registered in the services too, so /sync finds them (transaction_id, bundled aggregations).
      services.txns ??= createClientTxns({ store, now });
      services.relations ??= createRelationsService({ store, now });
      s = createRoomEventsService({
        store,
        rooms,
        now,
        txns: services.txns,
        relations: services.relations,
        // Rooms lifecycle (read when called: it may be set after the routes are built).
        validateCanonicalAlias: (roomId, content) => validateCanonicalAlias(services, roomId, content),
        isRoomForgotten: (userId, roomId) => isRoomForgotten(services, userId, roomId),
        // Federation backfill when local history runs out (read when called, like the above).
        backfill: async (roomId, before, limit, opts) => (await services.federation?.inbound?.backfill(roomId, before, limit, opts)) ?? false,
      });
    }
    built.set(services, s);
  }
  return s ?? undefined;
}

/** An integer query parameter: absent gives `def`; not an integer, or below `min`, is 400 M_INVALID_PARAM; above `max` is capped. */
export function intParam(q: Record<string, string | undefined>, name: string, def: number, opts: { min?: number; max?: number } = {}): number {
  const raw = q[name];
  if (raw === undefined) return def;
  if (!/^-?[0-9]{1,16}$/.test(raw)) throw new MatrixError('M_INVALID_PARAM', `Query parameter ${name} must be an integer`, 400);
  const n = Number(raw);
  const min = opts.min ?? 0;
  if (n < min) throw new MatrixError('M_INVALID_PARAM', `Query parameter ${name} must be at least ${min}`, 400);
  return opts.max !== undefined ? Math.min(n, opts.max) : n;
}

/** An enumerated query parameter: absent gives `def`; a value outside `allowed` is 400 M_INVALID_PARAM. */
export function enumParam<T extends string>(q: Record<string, string | undefined>, name: string, allowed: readonly T[], def: T): T;
export function enumParam<T extends string>(q: Record<string, string | undefined>, name: string, allowed: readonly T[]): T | undefined;
export function enumParam<T extends string>(q: Record<string, string | undefined>, name: string, allowed: readonly T[], def?: T): T | undefined {
  const raw = q[name];
  if (raw === undefined) return def;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new MatrixError('M_INVALID_PARAM', `Query parameter ${name} must be one of ${allowed.join(', ')}`, 400);
  }
  return raw as T;
}

/** A boolean query parameter (`true` / `false`); absent gives undefined. */
export function boolParam(q: Record<string, string | undefined>, name: string): boolean | undefined {
  const raw = q[name];
  if (raw === undefined) return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new MatrixError('M_INVALID_PARAM', `Query parameter ${name} must be true or false`, 400);
}

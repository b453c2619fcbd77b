// GET /_matrix/client/v1/rooms/{roomId}/hierarchy (client-server API "Spaces": the space tree through our rooms and other servers').
import type { FastifyInstance } from 'fastify';
import { isValidRoomId } from '../../core/ids.js';
import { MatrixError } from '../../errors.js';
import { HierarchyWalker, MAX_HIERARCHY_LIMIT, RoomSummaries } from '../../federation/queries/hierarchy.js';
import type { AppServices } from '../app.js';
import { booleanParam } from '../federation/hierarchy.js';
import { clientRoute } from './route.js';

function intParam(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v)) throw new MatrixError('M_INVALID_PARAM', `Query parameter '${name}' must be a non-negative integer`, 400);
  const n = Number(v);
  if (n < min) throw new MatrixError('M_INVALID_PARAM', `Query parameter '${name}' must be at least ${min}`, 400);
  return Math.min(n, max);
}

export function clientHierarchyRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    const store = services.store;
    if (!users || !store) return;
    // Without federation, the walk covers our own rooms only.
    let localOnly: HierarchyWalker | undefined;
    const walker = (): HierarchyWalker => services.federation?.queries?.hierarchy ?? (localOnly ??= new HierarchyWalker(new RoomSummaries(store), undefined, services.clock));
    clientRoute(app, users, {
      method: 'GET',
      path: '/rooms/:roomId/hierarchy',
      auth: 'required',
      allowGuest: true,
      versions: ['v1'],
      handler: async ({ requester, params, query }) => {
        const roomId = params.roomId!;
        if (!isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room ID', 400);
        return walker().walk({
          userId: requester.userId,
          roomId,
          suggestedOnly: booleanParam(query.suggested_only, 'suggested_only'),
          maxDepth: intParam(query.max_depth, 'max_depth', 0, 1_000),
          limit: intParam(query.limit, 'limit', 1, MAX_HIERARCHY_LIMIT) ?? 50,
          from: query.from,
        });
      },
    });
  };
}

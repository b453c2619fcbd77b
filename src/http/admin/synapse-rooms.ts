// GET /_synapse/admin/v1/rooms, GET /_synapse/admin/v1/rooms/{roomId}, GET /_synapse/admin/v1/rooms/{roomId}/members
// (Synapse's admin API).
import type { FastifyInstance } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { AppServices } from '../app.js';
import { ROOM_ORDERS } from '../../admin/store.js';
import { adminRoute, boolQueryParam, enumQueryParam, nonNegativeIntParam } from './synapse-route.js';

const MAX_LIMIT = 1000;

export function synapseRoomRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, admin } = services;
    if (!users || !admin) return;

    adminRoute(app, users, {
      method: 'GET',
      path: '/v1/rooms',
      handler: async ({ requester, query }) => {
        const searchTerm = query.search_term;
        if (searchTerm === '') throw new MatrixError('M_INVALID_PARAM', 'search_term cannot be an empty string', 400);
        return admin.listRooms(requester, {
          from: nonNegativeIntParam(query, 'from', 0),
          limit: nonNegativeIntParam(query, 'limit', 100, MAX_LIMIT),
          orderBy: enumQueryParam(query, 'order_by', ROOM_ORDERS, 'name'),
          dir: enumQueryParam(query, 'dir', ['f', 'b'] as const, 'f'),
          searchTerm,
          publicRooms: boolQueryParam(query, 'public_rooms'),
          emptyRooms: boolQueryParam(query, 'empty_rooms'),
        });
      },
    });
    adminRoute(app, users, {
      method: 'GET',
      path: '/v1/rooms/:roomId',
      handler: async ({ requester, params }) => admin.roomDetails(requester, params.roomId!),
    });
    adminRoute(app, users, {
      method: 'GET',
      path: '/v1/rooms/:roomId/members',
      handler: async ({ requester, params }) => admin.roomMembers(requester, params.roomId!),
    });
  };
}

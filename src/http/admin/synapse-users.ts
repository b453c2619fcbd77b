// GET /_synapse/admin/v2/users, GET|PUT /_synapse/admin/v2/users/{userId}, POST /_synapse/admin/v1/deactivate/{userId},
// POST /_synapse/admin/v1/reset_password/{userId}, GET /_synapse/admin/v1/users/{userId}/joined_rooms,
// GET /_synapse/admin/v1/users/{userId}/media, GET /_synapse/admin/v1/whois/{userId} (Synapse's admin API).
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { MEDIA_ORDERS, USER_ORDERS } from '../../admin/store.js';
import { adminRoute, boolQueryParam, enumQueryParam, nonNegativeIntParam } from './synapse-route.js';

/** Largest page the list endpoints return. */
const MAX_LIMIT = 1000;

export function synapseUserRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, admin } = services;
    if (!users || !admin) return;

    adminRoute(app, users, {
      method: 'GET',
      path: '/v2/users',
      handler: async ({ requester, query, queryAll }) =>
        admin.listUsers(requester, {
          from: nonNegativeIntParam(query, 'from', 0),
          limit: nonNegativeIntParam(query, 'limit', 100, MAX_LIMIT),
          userId: query.user_id,
          name: query.name,
          guests: boolQueryParam(query, 'guests') ?? true,
          // Synapse v2: `deactivated=true` includes deactivated users, anything else leaves them out.
          deactivated: boolQueryParam(query, 'deactivated') ? undefined : false,
          admins: boolQueryParam(query, 'admins'),
          locked: boolQueryParam(query, 'locked') ?? false,
          notUserTypes: queryAll('not_user_type'),
          orderBy: enumQueryParam(query, 'order_by', USER_ORDERS, 'name'),
          dir: enumQueryParam(query, 'dir', ['f', 'b'] as const, 'f'),
        }),
    });
    adminRoute(app, users, {
      method: 'GET',
      path: '/v2/users/:userId',
      handler: async ({ requester, params }) => admin.getUser(requester, params.userId!),
    });
    adminRoute(app, users, {
      method: 'PUT',
      path: '/v2/users/:userId',
      handler: async ({ requester, params, body, reply }) => {
        const { created, user } = await admin.putUser(requester, params.userId!, body);
        return reply.code(created ? 201 : 200).send(user);
      },
    });
    adminRoute(app, users, {
      method: 'POST',
      path: '/v1/deactivate/:userId',
      handler: async ({ requester, params, body }) => admin.deactivate(requester, params.userId!, body),
    });
    adminRoute(app, users, {
      method: 'POST',
      path: '/v1/reset_password/:userId',
      handler: async ({ requester, params, body }) => admin.resetPassword(requester, params.userId!, body),
    });
    adminRoute(app, users, {
      method: 'GET',
      path: '/v1/users/:userId/joined_rooms',
      handler: async ({ requester, params }) => admin.userJoinedRooms(requester, params.userId!),
    });
    adminRoute(app, users, {
      method: 'GET',
      path: '/v1/users/:userId/media',
      handler: async ({ requester, params, query }) => {
        // Newest first unless the caller picks an order (Synapse's default).
        const defaultOrder = query.order_by === undefined && query.dir === undefined;
        return admin.userMedia(requester, params.userId!, {
          from: nonNegativeIntParam(query, 'from', 0),
          limit: nonNegativeIntParam(query, 'limit', 100, MAX_LIMIT),
          orderBy: enumQueryParam(query, 'order_by', MEDIA_ORDERS, 'created_ts'),
          dir: defaultOrder ? 'b' : enumQueryParam(query, 'dir', ['f', 'b'] as const, 'f'),
        });
      },
    });
    adminRoute(app, users, {
      method: 'GET',
      path: '/v1/whois/:userId',
      handler: async ({ requester, params }) => admin.whois(requester, params.userId!),
    });
  };
}

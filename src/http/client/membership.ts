// POST /join/{roomIdOrAlias}, POST /rooms/{roomId}/{join,invite,leave,forget,kick,ban,unban},
// POST /knock/{roomIdOrAlias} (client-server API "Room membership").
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

/**
 * Every value of the `via` query parameter (repeatable), else of the deprecated `server_name`
 * (Synapse prefers `via`, MSC4156).
 */
function viaServers(req: FastifyRequest): string[] {
  const q = (req.query ?? {}) as Record<string, unknown>;
  const all = (v: unknown): string[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((s): s is string => typeof s === 'string');
  const via = all(q.via);
  return via.length > 0 ? via : all(q.server_name);
}

export function membershipRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, roomLifecycle: lifecycle } = services;
    if (!users || !lifecycle) return;

    clientRoute(app, users, {
      method: 'POST',
      path: '/join/:roomIdOrAlias',
      auth: 'required',
      allowGuest: true,
      rateLimit: 'join',
      handler: async ({ req, requester, params, body }) => lifecycle.join(requester, params.roomIdOrAlias!, body, { via: viaServers(req) }),
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/rooms/:roomId/join',
      auth: 'required',
      allowGuest: true,
      rateLimit: 'join',
      handler: async ({ req, requester, params, body }) => {
        const roomId = params.roomId!;
        // This form takes a room ID only (an alias belongs to /join/{roomIdOrAlias}).
        if (roomId.startsWith('#')) throw new MatrixError('M_INVALID_PARAM', 'This endpoint takes a room ID, not an alias', 400);
        return lifecycle.join(requester, roomId, body, { via: viaServers(req) });
      },
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/rooms/:roomId/invite',
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await lifecycle.invite(requester, params.roomId!, body);
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/rooms/:roomId/leave',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, params, body }) => {
        await lifecycle.leave(requester, params.roomId!, body);
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/rooms/:roomId/forget',
      auth: 'required',
      handler: async ({ requester, params }) => {
        await lifecycle.forget(requester, params.roomId!);
        return {};
      },
    });
    for (const action of ['kick', 'ban', 'unban'] as const) {
      clientRoute(app, users, {
        method: 'POST',
        path: `/rooms/:roomId/${action}`,
        auth: 'required',
        handler: async ({ requester, params, body }) => {
          await lifecycle.moderate(requester, params.roomId!, action, body);
          return {};
        },
      });
    }
    clientRoute(app, users, {
      method: 'POST',
      path: '/knock/:roomIdOrAlias',
      auth: 'required',
      rateLimit: 'join',
      handler: async ({ req, requester, params, body }) => lifecycle.knock(requester, params.roomIdOrAlias!, body, { via: viaServers(req) }),
    });
  };
}

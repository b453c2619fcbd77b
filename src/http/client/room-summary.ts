// GET /_matrix/client/v1/room_summary/{roomIdOrAlias} (client-server API "Room Summaries", MSC3266), with the
// unstable paths Element uses: /unstable/im.nheko.summary/summary/{roomIdOrAlias} and
// /unstable/im.nheko.summary/rooms/{roomIdOrAlias}/summary.
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute, type ClientRouteContext } from './route.js';

/** Every value of the repeated `via` query parameter. */
function viaServers(q: unknown): string[] {
  const v = typeof q === 'object' && q !== null ? (q as Record<string, unknown>).via : undefined;
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export function roomSummaryRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, admin } = services;
    if (!users || !admin) return;
    // Unauthenticated callers may read summaries of public and world-readable rooms (spec: MAY).
    const handler = async ({ requester, params, req }: ClientRouteContext<'optional'>) =>
      admin.lookups.roomSummary(requester, params.roomIdOrAlias!, viaServers(req.query));
    clientRoute(app, users, { method: 'GET', path: '/room_summary/:roomIdOrAlias', auth: 'optional', allowGuest: true, versions: ['v1'], handler });
    clientRoute(app, users, {
      method: 'GET',
      path: '/summary/:roomIdOrAlias',
      auth: 'optional',
      allowGuest: true,
      versions: ['unstable/im.nheko.summary'],
      handler,
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/rooms/:roomIdOrAlias/summary',
      auth: 'optional',
      allowGuest: true,
      versions: ['unstable/im.nheko.summary'],
      handler,
    });
  };
}

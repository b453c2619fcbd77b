// GET /_matrix/federation/v1/hierarchy/{roomId}?suggested_only (server-server API "Spaces").
import type { FastifyInstance } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function booleanParam(v: string | undefined, name: string): boolean {
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw new MatrixError('M_INVALID_PARAM', `Boolean query parameter '${name}' must be one of ['true', 'false']`, 400);
}

export function hierarchyRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const queries = services.federation?.queries;
    if (!queries) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/hierarchy/:roomId',
      roomIdParam: 'roomId',
      handler: async ({ origin, params, query }) => queries.hierarchy.forServer(origin, params.roomId!, booleanParam(query.suggested_only, 'suggested_only')),
    });
  };
}

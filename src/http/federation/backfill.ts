// GET /_matrix/federation/v1/backfill/{roomId}?v=...&limit=...
import type { FastifyInstance } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function federationBackfillRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const inbound = services.federation?.inbound;
    if (!inbound) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/backfill/:roomId',
      roomIdParam: 'roomId',
      handler: async ({ req, reply, origin, params, query }) => {
        // `v` repeats: one parameter per event.
        const raw = (req.query as Record<string, unknown>).v;
        const from = (Array.isArray(raw) ? raw : [raw]).filter((x): x is string => typeof x === 'string' && x.length > 0);
        if (from.length === 0) throw new MatrixError('M_MISSING_PARAM', 'Missing parameter: v', 400);
        const limitText = query.limit;
        if (limitText === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing parameter: limit', 400);
        if (!/^[0-9]{1,9}$/.test(limitText)) throw new MatrixError('M_INVALID_PARAM', 'limit must be a non-negative integer', 400);
        reply.type('application/json').send(await inbound.events.backfill(origin, params.roomId!, from.slice(0, 100), Number(limitText)));
      },
    });
  };
}

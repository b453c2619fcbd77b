// GET /_matrix/federation/v1/timestamp_to_event/{roomId}?ts&dir
import type { FastifyInstance } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function federationTimestampRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const inbound = services.federation?.inbound;
    if (!inbound) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/timestamp_to_event/:roomId',
      roomIdParam: 'roomId',
      handler: async ({ origin, params, query }) => {
        const { ts, dir } = query;
        if (ts === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing parameter: ts', 400);
        if (dir === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing parameter: dir', 400);
        if (!/^[0-9]{1,16}$/.test(ts) || !Number.isSafeInteger(Number(ts))) throw new MatrixError('M_INVALID_PARAM', 'ts must be an integer', 400);
        if (dir !== 'f' && dir !== 'b') throw new MatrixError('M_INVALID_PARAM', "dir must be 'f' or 'b'", 400);
        return inbound.events.timestampToEvent(origin, params.roomId!, Number(ts), dir);
      },
    });
  };
}

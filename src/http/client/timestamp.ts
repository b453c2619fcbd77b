// GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event (client-server API, "Events in a room by date").
import type { FastifyInstance } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function timestampToEventRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, admin } = services;
    if (!users || !admin) return;
    clientRoute(app, users, {
      method: 'GET',
      path: '/rooms/:roomId/timestamp_to_event',
      auth: 'required',
      allowGuest: true,
      versions: ['v1'],
      handler: async ({ requester, params, query }) => {
        const { ts, dir } = query;
        if (ts === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing parameter: ts', 400);
        if (dir === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing parameter: dir', 400);
        if (!/^[0-9]{1,16}$/.test(ts) || !Number.isSafeInteger(Number(ts))) throw new MatrixError('M_INVALID_PARAM', 'ts must be a non-negative integer', 400);
        if (dir !== 'f' && dir !== 'b') throw new MatrixError('M_INVALID_PARAM', "dir must be 'f' or 'b'", 400);
        return admin.lookups.timestampToEvent(requester, params.roomId!, Number(ts), dir);
      },
    });
  };
}

// POST /register, GET /register/available (client-server API "Account registration").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { MatrixError } from '../../errors.js';
import { clientRoute, sendUiaResult } from './route.js';

export function registerRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;

    clientRoute(app, users, {
      method: 'POST',
      path: '/register',
      auth: 'none',
      rateLimit: 'register',
      handler: async ({ req, reply, query, body }) => {
        const kind = query.kind ?? 'user';
        if (kind !== 'user' && kind !== 'guest') throw new MatrixError('M_INVALID_PARAM', 'kind must be "user" or "guest"');
        return sendUiaResult(reply, await users.register({ kind, body, ip: req.ip }));
      },
    });

    clientRoute(app, users, {
      method: 'GET',
      path: '/register/available',
      auth: 'none',
      handler: async ({ query }) => {
        await users.checkUsernameAvailable(query.username);
        return { available: true };
      },
    });
  };
}

// GET /login, POST /login, POST /refresh (client-server API "Login", "Refreshing access tokens").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function loginRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;

    clientRoute(app, users, { method: 'GET', path: '/login', auth: 'none', handler: async () => users.loginFlows() });
    clientRoute(app, users, { method: 'POST', path: '/login', auth: 'none', rateLimit: 'login', handler: async ({ req, body }) => users.login(body, req.ip) });
    clientRoute(app, users, { method: 'POST', path: '/refresh', auth: 'none', handler: async ({ body }) => users.refresh(body) });
  };
}

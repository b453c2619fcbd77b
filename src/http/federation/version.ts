// GET /_matrix/federation/v1/version: the name and version of this server's software.
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { SERVER_SOFTWARE_NAME, SERVER_SOFTWARE_VERSION } from '../server-info.js';

export function federationVersionRoutes(_services: AppServices) {
  const body = JSON.stringify({ server: { name: SERVER_SOFTWARE_NAME, version: SERVER_SOFTWARE_VERSION } });
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/_matrix/federation/v1/version', async (_request, reply) => {
      reply.type('application/json').send(body);
    });
  };
}

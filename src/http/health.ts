// GET /health: liveness probe answering 200 "OK" as plain text, as Synapse does.
import type { FastifyInstance } from 'fastify';
import type { AppServices } from './app.js';

export function healthRoutes(_services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/health', async (_request, reply) => {
      reply.type('text/plain; charset=utf-8').send('OK');
    });
  };
}

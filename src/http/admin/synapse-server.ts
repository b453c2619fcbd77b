// GET /_synapse/admin/v1/server_version (Synapse's admin API; unauthenticated, as in Synapse).
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { SERVER_SOFTWARE_VERSION } from '../server-info.js';

export function synapseServerRoutes(_services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/_synapse/admin/v1/server_version', async () => ({ server_version: SERVER_SOFTWARE_VERSION }));
  };
}

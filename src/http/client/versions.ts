// GET /_matrix/client/versions: the spec versions and unstable features this server supports.
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';

/**
 * Spec versions we advertise. Clients choose endpoints from this list (e.g. v1.11 makes them use
 * authenticated media), so it must only name versions whose endpoints we serve; the legacy r0
 * versions are listed because matrix-nio and Hydrogen still use /r0 paths. Raise the top entry only
 * together with the features of that version.
 */
export const SUPPORTED_SPEC_VERSIONS: readonly string[] = [
  'r0.0.1', 'r0.1.0', 'r0.2.0', 'r0.3.0', 'r0.4.0', 'r0.5.0', 'r0.6.0', 'r0.6.1',
  'v1.1', 'v1.2', 'v1.3', 'v1.4', 'v1.5', 'v1.6', 'v1.7', 'v1.8', 'v1.9', 'v1.10', 'v1.11', 'v1.12',
];

export function clientVersionsRoutes(_services: AppServices) {
  const body = JSON.stringify({ versions: SUPPORTED_SPEC_VERSIONS, unstable_features: {} });
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/_matrix/client/versions', async (_request, reply) => {
      reply.type('application/json').send(body);
    });
  };
}

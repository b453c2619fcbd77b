// POST|GET /room_keys/version, GET|PUT|DELETE /room_keys/version/{version}, PUT|GET|DELETE /room_keys/keys[/{roomId}[/{sessionId}]] (module "Server-side key backups").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

/** Older Element releases call the backup API under /unstable. */
const VERSIONS = ['v3', 'r0', 'unstable'] as const;
/** A whole backup upload (Element sends sessions in batches; this leaves room for large batches). */
const KEYS_BODY_LIMIT = 8 * 1024 * 1024;

export function keyBackupRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, e2ee } = services;
    if (!users || !e2ee) return;
    const backup = e2ee.backup;

    clientRoute(app, users, {
      method: 'POST',
      path: '/room_keys/version',
      auth: 'required',
      versions: VERSIONS,
      handler: async ({ requester, body }) => backup.createVersion(requester, body),
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/room_keys/version',
      auth: 'required',
      versions: VERSIONS,
      handler: async ({ requester }) => backup.getVersion(requester, undefined),
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/room_keys/version/:version',
      auth: 'required',
      versions: VERSIONS,
      handler: async ({ requester, params }) => backup.getVersion(requester, params.version!),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: '/room_keys/version/:version',
      auth: 'required',
      versions: VERSIONS,
      handler: async ({ requester, params, body }) => backup.updateVersion(requester, params.version!, body),
    });
    clientRoute(app, users, {
      method: 'DELETE',
      path: '/room_keys/version/:version',
      auth: 'required',
      versions: VERSIONS,
      handler: async ({ requester, params }) => backup.deleteVersion(requester, params.version!),
    });

    // The three granularities share one handler each for PUT, GET and DELETE.
    for (const path of ['/room_keys/keys', '/room_keys/keys/:roomId', '/room_keys/keys/:roomId/:sessionId']) {
      clientRoute(app, users, {
        method: 'PUT',
        path,
        auth: 'required',
        versions: VERSIONS,
        bodyLimit: KEYS_BODY_LIMIT,
        handler: async ({ requester, params, query, body }) => backup.putKeys(requester, query.version, body, params.roomId, params.sessionId),
      });
      clientRoute(app, users, {
        method: 'GET',
        path,
        auth: 'required',
        versions: VERSIONS,
        handler: async ({ requester, params, query }) => backup.getKeys(requester, query.version, params.roomId, params.sessionId),
      });
      clientRoute(app, users, {
        method: 'DELETE',
        path,
        auth: 'required',
        versions: VERSIONS,
        handler: async ({ requester, params, query }) => backup.deleteKeys(requester, query.version, params.roomId, params.sessionId),
      });
    }
  };
}

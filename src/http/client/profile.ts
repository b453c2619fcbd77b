// GET /profile/{userId}, GET|PUT|DELETE /profile/{userId}/{keyName} (client-server API "Profiles";
// displayname, avatar_url, m.tz and custom fields of spec v1.16).
import type { FastifyInstance } from 'fastify';
import { isValidUserId, serverNameOf } from '../../core/ids.js';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function profileRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;
    // Another server's user: asked over federation (/query/profile) when it is wired.
    const remote = (userId: string) =>
      isValidUserId(userId) && serverNameOf(userId) !== services.config.server_name ? services.federation?.queries : undefined;

    clientRoute(app, users, {
      method: 'GET',
      path: '/profile/:userId',
      auth: 'none',
      handler: async ({ params }) => remote(params.userId!)?.remoteProfile(params.userId!) ?? users.getProfile(params.userId!),
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/profile/:userId/:keyName',
      auth: 'none',
      handler: async ({ params }) =>
        remote(params.userId!)?.remoteProfile(params.userId!, params.keyName!) ?? users.getProfileField(params.userId!, params.keyName!),
    });
    // Guests may change their display name only; the service enforces the field.
    clientRoute(app, users, {
      method: 'PUT',
      path: '/profile/:userId/:keyName',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, params, body }) => {
        await users.setProfileField(requester, params.userId!, params.keyName!, body);
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'DELETE',
      path: '/profile/:userId/:keyName',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, params }) => {
        await users.deleteProfileField(requester, params.userId!, params.keyName!);
        return {};
      },
    });
  };
}

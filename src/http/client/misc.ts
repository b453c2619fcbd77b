// GET /thirdparty/protocols, /thirdparty/protocol/{p}, /thirdparty/location[/{p}], /thirdparty/user[/{p}],
// GET /voip/turnServer, POST /account/3pid, /account/3pid/{add,bind,unbind,delete},
// POST /account/3pid/{email,msisdn}/requestToken, POST /user/{userId}/openid/request_token,
// GET /room_keys/version (placeholder until key backup exists): the small endpoints clients probe.
import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { MatrixError } from '../../errors.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import { clientRoute, DEFAULT_CLIENT_VERSIONS } from './route.js';

/**
 * TURN credentials (client-server "Voice over IP", GET /voip/turnServer), as Synapse computes them:
 * with a shared secret, the TURN REST API scheme (coturn `use-auth-secret`): username
 * `<expiry seconds>:<user ID>`, password the padded base64 HMAC-SHA1 of the username; otherwise a
 * fixed username and password. `{}` when no TURN server is configured.
 */
export function turnCredentials(
  config: { turn_uris: string[]; turn_shared_secret?: string | undefined; turn_username?: string | undefined; turn_password?: string | undefined; turn_user_lifetime: number },
  userId: string,
  now: number,
): JsonObject {
  const lifetime = config.turn_user_lifetime;
  if (config.turn_uris.length === 0 || lifetime <= 0) return {};
  let username: string;
  let password: string;
  if (config.turn_shared_secret) {
    username = `${Math.floor((now + lifetime) / 1000)}:${userId}`;
    password = createHmac('sha1', config.turn_shared_secret).update(username, 'utf8').digest('base64');
  } else if (config.turn_username && config.turn_password) {
    username = config.turn_username;
    password = config.turn_password;
  } else {
    return {};
  }
  return { username, password, ttl: Math.floor(lifetime / 1000), uris: [...config.turn_uris] };
}

function requireObject(body: unknown): JsonObject {
  if (body === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
  if (!isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object');
  return body;
}

export function miscRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;
    const config = services.config;
    const now = services.clock ?? Date.now;

    // ---- third-party networks (no application services bridge any here) ----
    clientRoute(app, users, { method: 'GET', path: '/thirdparty/protocols', auth: 'required', handler: async () => ({}) });
    clientRoute(app, users, {
      method: 'GET',
      path: '/thirdparty/protocol/:protocol',
      auth: 'required',
      handler: async () => {
        throw new MatrixError('M_NOT_FOUND', 'No protocol', 404);
      },
    });
    for (const path of ['/thirdparty/location', '/thirdparty/location/:protocol', '/thirdparty/user', '/thirdparty/user/:protocol']) {
      clientRoute(app, users, { method: 'GET', path, auth: 'required', handler: async () => [] });
    }

    // ---- VoIP ----
    clientRoute(app, users, {
      method: 'GET',
      path: '/voip/turnServer',
      auth: 'required',
      allowGuest: config.turn_allow_guests,
      handler: async ({ requester }) => turnCredentials(config, requester.userId, now()),
    });

    // ---- third-party identifiers: this server has no email/SMS sending and no identity server ----
    // (GET /account/3pid is in account.ts.) As Synapse without email config or msisdn delegate.
    for (const medium of ['email', 'msisdn'] as const) {
      clientRoute(app, users, {
        method: 'POST',
        path: `/account/3pid/${medium}/requestToken`,
        auth: 'none',
        handler: async ({ body }) => {
          requireObject(body);
          throw new MatrixError('M_THREEPID_MEDIUM_NOT_SUPPORTED', `Adding ${medium === 'email' ? 'an email address' : 'a phone number'} to your account is not supported on this server`, 400);
        },
      });
    }
    // Adding needs a session validated by requestToken, which can never exist here.
    clientRoute(app, users, {
      method: 'POST',
      path: '/account/3pid',
      auth: 'required',
      handler: async ({ body }) => {
        const b = requireObject(body);
        const creds = b.three_pid_creds ?? b.threePidCreds;
        if (creds === undefined || creds === null) throw new MatrixError('M_MISSING_PARAM', 'Missing param three_pid_creds');
        throw new MatrixError('M_THREEPID_AUTH_FAILED', 'No validated 3pid session found', 400);
      },
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/account/3pid/add',
      auth: 'required',
      handler: async ({ body }) => {
        const b = requireObject(body);
        for (const k of ['client_secret', 'sid']) {
          if (typeof b[k] !== 'string') throw new MatrixError('M_MISSING_PARAM', `Missing param ${k}`);
        }
        throw new MatrixError('M_THREEPID_AUTH_FAILED', 'No validated 3pid session found', 400);
      },
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/account/3pid/bind',
      auth: 'required',
      handler: async ({ body }) => {
        requireObject(body);
        throw new MatrixError('M_THREEPID_DENIED', 'Binding third-party identifiers through an identity server is not supported on this server', 403);
      },
    });
    // Nothing is ever bound or stored, so unbinding and deleting succeed with nothing to do.
    for (const op of ['unbind', 'delete'] as const) {
      clientRoute(app, users, {
        method: 'POST',
        path: `/account/3pid/${op}`,
        auth: 'required',
        handler: async ({ body }) => {
          const b = requireObject(body);
          if (typeof b.medium !== 'string' || typeof b.address !== 'string') throw new MatrixError('M_MISSING_PARAM', 'Missing param medium or address');
          return { id_server_unbind_result: 'no-support' };
        },
      });
    }

    // ---- OpenID (client-server "OpenID") ----
    const openId = services.openIdTokens;
    if (openId) {
      clientRoute(app, users, {
        method: 'POST',
        path: '/user/:userId/openid/request_token',
        auth: 'required',
        handler: async ({ requester, params, body }) => {
          if (body !== undefined && !isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object');
          if (params.userId !== requester.userId) throw new MatrixError('M_FORBIDDEN', 'Cannot request tokens for other users.', 403);
          return openId.issue(requester.userId);
        },
      });
    }

    // ---- key backup probe ----
    // Placeholder for servers without the E2EE service: clients probe this at start and expect 404
    // M_NOT_FOUND when no backup exists. The E2EE work's key-backup routes (client/key-backup.ts)
    // replace it: registered only when no plugin before this one serves the path.
    for (const v of DEFAULT_CLIENT_VERSIONS) {
      if (app.hasRoute({ method: 'GET', url: `/_matrix/client/${v}/room_keys/version` })) return;
    }
    clientRoute(app, users, {
      method: 'GET',
      path: '/room_keys/version',
      auth: 'required',
      handler: async () => {
        throw new MatrixError('M_NOT_FOUND', 'No backup found', 404);
      },
    });
  };
}

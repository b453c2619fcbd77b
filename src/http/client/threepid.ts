// POST /register/email/requestToken, /register/msisdn/requestToken, /account/password/email/requestToken,
// /account/password/msisdn/requestToken; GET /_matrix/client/v1/register/m.login.registration_token/validity;
// POST /_matrix/client/v1/login/get_token. This server sends no email or SMS, has no registration
// tokens and does not issue login tokens: each answers as Synapse does with those features off.
import type { FastifyInstance } from 'fastify';
import { MatrixError } from '../../errors.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

/** The body of an msisdn requestToken call, with Synapse's check of the required keys. */
function msisdnBody(body: unknown): JsonObject {
  if (body === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
  if (!isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object.');
  const missing = ['client_secret', 'country', 'phone_number', 'send_attempt'].filter((k) => !(k in body));
  if (missing.length > 0) throw new MatrixError('M_MISSING_PARAM', `Missing params: ${JSON.stringify(missing)}`);
  return body;
}

export function threepidTokenRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;
    const config = services.config;

    // Synapse without an email config refuses before reading the body.
    clientRoute(app, users, {
      method: 'POST',
      path: '/register/email/requestToken',
      auth: 'none',
      handler: async () => {
        throw new MatrixError('M_UNKNOWN', 'Email-based registration has been disabled on this server', 400);
      },
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/account/password/email/requestToken',
      auth: 'none',
      handler: async () => {
        throw new MatrixError('M_UNKNOWN', 'Email-based password resets have been disabled on this server', 400);
      },
    });
    // Synapse without an msisdn delegate: the body is checked, then refused.
    clientRoute(app, users, {
      method: 'POST',
      path: '/register/msisdn/requestToken',
      auth: 'none',
      handler: async ({ body }) => {
        msisdnBody(body);
        throw new MatrixError('M_UNKNOWN', 'Registration by phone number is not supported on this homeserver', 400);
      },
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/account/password/msisdn/requestToken',
      auth: 'none',
      handler: async ({ body }) => {
        msisdnBody(body);
        throw new MatrixError('M_UNKNOWN', 'Password reset by phone number is not supported on this homeserver', 400);
      },
    });

    // Registration tokens (spec "Token-authenticated registration"): none exist on this server.
    clientRoute(app, users, {
      method: 'GET',
      path: '/register/m.login.registration_token/validity',
      auth: 'none',
      versions: ['v1'],
      handler: async ({ query }) => {
        if (!config.enable_registration) throw new MatrixError('M_FORBIDDEN', 'Registration has been disabled', 403);
        if (query.token === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing string query parameter "token"', 400);
        return { valid: false };
      },
    });

    // Login tokens for another device (spec POST /login/get_token): off, and capabilities say so
    // (m.get_login_token enabled false). Synapse does not mount the endpoint then: 404 M_UNRECOGNIZED.
    for (const versions of [['v1'], ['unstable/org.matrix.msc3882']]) {
      clientRoute(app, users, {
        method: 'POST',
        path: '/login/get_token',
        auth: 'none',
        versions,
        handler: async () => {
          throw new MatrixError('M_UNRECOGNIZED', 'Unrecognized request', 404);
        },
      });
    }
  };
}

// PUT|GET|DELETE /unstable/org.matrix.msc3814.v1/dehydrated_device, GET|POST /unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events (MSC3814).
import type { FastifyInstance } from 'fastify';
import { MatrixError } from '../../errors.js';
import { isJsonObject } from '../../core/json/types.js';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

const PREFIX = '/org.matrix.msc3814.v1/dehydrated_device';
const UNSTABLE = ['unstable'] as const;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  if (!/^[0-9]{1,6}$/.test(raw)) throw new MatrixError('M_INVALID_PARAM', 'limit must be a positive integer');
  const n = Number(raw);
  if (n < 1) throw new MatrixError('M_INVALID_PARAM', 'limit must be a positive integer');
  return Math.min(n, MAX_LIMIT);
}

export function dehydratedDeviceRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, e2ee } = services;
    if (!users || !e2ee) return;

    clientRoute(app, users, {
      method: 'GET',
      path: PREFIX,
      auth: 'required',
      versions: UNSTABLE,
      handler: async ({ requester }) => e2ee.getDehydratedDevice(requester),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: PREFIX,
      auth: 'required',
      versions: UNSTABLE,
      handler: async ({ requester, body }) => e2ee.putDehydratedDevice(requester, body),
    });
    clientRoute(app, users, {
      method: 'DELETE',
      path: PREFIX,
      auth: 'required',
      versions: UNSTABLE,
      handler: async ({ requester }) => e2ee.deleteDehydratedDevice(requester),
    });
    clientRoute(app, users, {
      method: 'GET',
      path: `${PREFIX}/:deviceId/events`,
      auth: 'required',
      versions: UNSTABLE,
      handler: async ({ requester, params, query }) =>
        e2ee.dehydratedDeviceEvents(requester, params.deviceId!, query.from, parseLimit(query.limit)),
    });
    // The earlier draft of MSC3814 took the token in a POST body (`next_batch`); Synapse still serves it.
    clientRoute(app, users, {
      method: 'POST',
      path: `${PREFIX}/:deviceId/events`,
      auth: 'required',
      versions: UNSTABLE,
      handler: async ({ requester, params, query, body }) => {
        let from: string | undefined;
        if (body !== undefined) {
          if (!isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object.');
          if (body.next_batch !== undefined && body.next_batch !== null && typeof body.next_batch !== 'string') {
            throw new MatrixError('M_BAD_JSON', '"next_batch" must be a string');
          }
          if (typeof body.next_batch === 'string') from = body.next_batch;
        }
        return e2ee.dehydratedDeviceEvents(requester, params.deviceId!, from, parseLimit(query.limit));
      },
    });
  };
}

// GET /devices, GET|PUT|DELETE /devices/{deviceId}, POST /delete_devices (module "Device Management").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute, sendUiaResult } from './route.js';

export function deviceRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;

    clientRoute(app, users, {
      method: 'GET',
      path: '/devices',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester }) => users.listDevices(requester),
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/devices/:deviceId',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, params }) => users.getDevice(requester, params.deviceId!),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: '/devices/:deviceId',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, params, body }) => {
        await users.updateDevice(requester, params.deviceId!, body);
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'DELETE',
      path: '/devices/:deviceId',
      auth: 'required',
      handler: async ({ reply, requester, params, body }) => {
        const deviceId = params.deviceId!;
        return sendUiaResult(reply, await users.deleteDevices(requester, [deviceId], body, `DELETE /devices/${deviceId}`));
      },
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/delete_devices',
      auth: 'required',
      handler: async ({ reply, requester, body }) =>
        sendUiaResult(reply, await users.deleteDevices(requester, undefined, body, 'POST /delete_devices')),
    });
  };
}

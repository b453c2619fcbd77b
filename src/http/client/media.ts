// GET /_matrix/client/v1/media/config, /media/download/{serverName}/{mediaId}[/{fileName}],
// /media/thumbnail/{serverName}/{mediaId}, /media/preview_url: authenticated media (spec v1.11).
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { mediaOptions, previewUrl, sendMedia, sendThumbnail, thumbnailRequest } from '../media/serve.js';
import { clientRoute } from './route.js';

const V1 = ['v1'] as const;

export function authenticatedMediaRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const media = services.media;
    const users = services.users;
    if (!media || !users) return;
    const repo = media.repo;

    clientRoute(app, users, {
      method: 'GET',
      path: '/media/config',
      auth: 'required',
      versions: V1,
      handler: async () => media.mediaConfig(),
    });

    // Guests may download and thumbnail media, as in Synapse.
    clientRoute(app, users, {
      method: 'GET',
      path: '/media/download/:serverName/:mediaId',
      auth: 'required',
      allowGuest: true,
      versions: V1,
      handler: async ({ req, reply, params, query }) => {
        const file = await repo.getMedia(params.serverName!, params.mediaId!, mediaOptions(query, false));
        return sendMedia(req, reply, file);
      },
    });

    clientRoute(app, users, {
      method: 'GET',
      path: '/media/download/:serverName/:mediaId/:fileName',
      auth: 'required',
      allowGuest: true,
      versions: V1,
      handler: async ({ req, reply, params, query }) => {
        const file = await repo.getMedia(params.serverName!, params.mediaId!, mediaOptions(query, false));
        return sendMedia(req, reply, file, params.fileName);
      },
    });

    clientRoute(app, users, {
      method: 'GET',
      path: '/media/thumbnail/:serverName/:mediaId',
      auth: 'required',
      allowGuest: true,
      versions: V1,
      handler: async ({ req, reply, params, query }) => {
        const t = await repo.getThumbnail(params.serverName!, params.mediaId!, thumbnailRequest(query), mediaOptions(query, false));
        return sendThumbnail(req, reply, t);
      },
    });

    clientRoute(app, users, {
      method: 'GET',
      path: '/media/preview_url',
      auth: 'required',
      versions: V1,
      handler: async ({ requester, query }) => previewUrl(media, requester.userId, query),
    });
  };
}

// GET /_matrix/federation/v1/media/download/{mediaId}, GET /_matrix/federation/v1/media/thumbnail/{mediaId} (server-server API "Content Repository": multipart/mixed answers).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { MatrixError } from '../../errors.js';
import { multipartBody } from '../../federation/queries/media.js';
import { contentDisposition, servedContentType } from '../../media/http-rules.js';
import type { AppServices } from '../app.js';
import { mediaOptions, thumbnailRequest } from '../media/serve.js';
import { federationRoute } from './route.js';

async function sendMultipart(reply: FastifyReply, path: string, contentType: string, disposition: string): Promise<FastifyReply> {
  let length: number;
  try {
    length = (await stat(path)).size;
  } catch {
    throw new MatrixError('M_NOT_FOUND', 'Media not found', 404);
  }
  const body = multipartBody({ contentType, disposition, length, stream: createReadStream(path, { highWaterMark: 256 * 1024 }) });
  reply.header('content-type', body.contentType);
  reply.header('content-length', String(body.length));
  return reply.send(body.body);
}

export function federationMediaRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const media = services.media;
    if (!media || !services.federation) return;
    const ours = services.config.server_name;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/media/download/:mediaId',
      handler: async ({ reply, params, query }) => {
        // Only our own media: other servers never fetch through us.
        const file = await media.repo.getMedia(ours, params.mediaId!, { ...mediaOptions(query, false), allowRemote: false });
        const type = servedContentType(file.contentType);
        return sendMultipart(reply, file.path, type, contentDisposition(type, file.uploadName));
      },
    });
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/media/thumbnail/:mediaId',
      handler: async ({ reply, params, query }) => {
        const t = await media.repo.getThumbnail(ours, params.mediaId!, thumbnailRequest(query), { ...mediaOptions(query, false), allowRemote: false });
        const ext = t.contentType.slice(t.contentType.indexOf('/') + 1);
        return sendMultipart(reply, t.path, t.contentType, contentDisposition(t.contentType, `thumbnail.${ext}`, true));
      },
    });
  };
}

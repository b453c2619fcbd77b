// POST /_matrix/media/{v3,r0,v1}/upload, PUT /_matrix/media/v3/upload/{serverName}/{mediaId},
// POST /_matrix/media/v1/create, GET /_matrix/media/{v3,r0,v1}/download/{serverName}/{mediaId}[/{fileName}],
// GET /_matrix/media/{v3,r0,v1}/thumbnail/{serverName}/{mediaId}, GET /_matrix/media/{v3,r0,v1}/config,
// GET /_matrix/media/{v3,r0,v1}/preview_url: the content repository under its original paths.
//
// Download and thumbnail here are the unauthenticated endpoints the spec deprecated in v1.11. They
// keep serving media for the clients that still use them; with enable_authenticated_media: true
// media uploaded from then on is "frozen" out of them (404) and served only by the authenticated
// /_matrix/client/v1/media endpoints (src/http/client/media.ts).
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { AppServices } from '../app.js';
import { authenticateRequest } from '../client/auth.js';
import type { Requester } from '../../users/service.js';
import { firstQueryValues, mediaOptions, previewUrl, sendMedia, sendThumbnail, thumbnailRequest } from './serve.js';

/** Media prefixes clients use: v3 (Element, matrix-js-sdk), r0 (matrix-nio, Hydrogen), v1 (seen in the wild, as Synapse notes). */
const LEGACY_VERSIONS = ['v3', 'r0', 'v1'] as const;

type Params = Record<string, string>;

/**
 * An upload cut off at the size limit leaves the rest of the body unread: the answer (413) closes
 * the connection so the client stops sending it.
 */
async function closeOnTooLarge<T>(reply: FastifyReply, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    if (e instanceof MatrixError && e.status === 413) reply.header('connection', 'close');
    throw e;
  }
}

export function mediaRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const media = services.media;
    const users = services.users;
    if (!media || !users) return;
    const repo = media.repo;

    // Upload bodies are the file itself: handed to the route as the raw request stream (written to
    // disk as it arrives), never parsed or buffered. This plugin's routes take no JSON bodies.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req: FastifyRequest, payload: Readable, done: (err: Error | null, body?: unknown) => void) => done(null, payload));

    /** Authenticates before any of the body is read. */
    const auth = (allowGuest: boolean) => async (req: FastifyRequest) => {
      req.requester = await authenticateRequest(req, users, { mode: 'required', allowGuest });
    };
    /**
     * For uploads: authenticates, and keeps the client's Content-Type for the handler while Fastify
     * is shown a neutral one, so that no header value (even one Fastify cannot parse) stops an upload.
     */
    const uploadTypes = new WeakMap<FastifyRequest, string | undefined>();
    const authUpload = async (req: FastifyRequest) => {
      await auth(false)(req);
      const h = req.headers['content-type'];
      uploadTypes.set(req, typeof h === 'string' ? h : undefined);
      req.raw.headers['content-type'] = 'application/octet-stream';
    };
    const requester = (req: FastifyRequest): Requester => req.requester!;
    // The request itself is the body stream (an empty one when there is no body).
    const bodyStream = (req: FastifyRequest): Readable => req.raw;
    const contentType = (req: FastifyRequest): string | undefined => uploadTypes.get(req);

    for (const v of LEGACY_VERSIONS) {
      const base = `/_matrix/media/${v}`;

      app.post(`${base}/upload`, { onRequest: authUpload, bodyLimit: repo.maxUploadSize }, async (req, reply) => {
        const q = firstQueryValues(req.query);
        const r = await closeOnTooLarge(reply, repo.upload({ stream: bodyStream(req), contentType: contentType(req), fileName: q.filename, userId: requester(req).userId }));
        return { content_uri: r.contentUri };
      });

      app.get(`${base}/download/:serverName/:mediaId`, async (req, reply) => {
        const p = req.params as Params;
        const file = await repo.getMedia(p.serverName!, p.mediaId!, mediaOptions(firstQueryValues(req.query), true));
        return sendMedia(req, reply, file);
      });

      app.get(`${base}/download/:serverName/:mediaId/:fileName`, async (req, reply) => {
        const p = req.params as Params;
        const file = await repo.getMedia(p.serverName!, p.mediaId!, mediaOptions(firstQueryValues(req.query), true));
        return sendMedia(req, reply, file, p.fileName);
      });

      app.get(`${base}/thumbnail/:serverName/:mediaId`, async (req, reply) => {
        const p = req.params as Params;
        const q = firstQueryValues(req.query);
        const t = await repo.getThumbnail(p.serverName!, p.mediaId!, thumbnailRequest(q), mediaOptions(q, true));
        return sendThumbnail(req, reply, t);
      });

      app.get(`${base}/config`, { onRequest: auth(false) }, async () => media.mediaConfig());

      app.get(`${base}/preview_url`, { onRequest: auth(false) }, async (req) =>
        previewUrl(media, requester(req).userId, firstQueryValues(req.query)),
      );
    }

    // Async uploads (spec v1.7): create the mxc URI first, upload to it later.
    app.post('/_matrix/media/v1/create', { onRequest: auth(false) }, async (req) => {
      // The body (an empty JSON object, if anything) is not needed; drain it.
      bodyStream(req).resume();
      const r = await repo.createPending(requester(req).userId);
      return { content_uri: r.contentUri, unused_expires_at: r.unusedExpiresAt };
    });

    app.put('/_matrix/media/v3/upload/:serverName/:mediaId', { onRequest: authUpload, bodyLimit: repo.maxUploadSize }, async (req, reply) => {
      const p = req.params as Params;
      const q = firstQueryValues(req.query);
      const input = { stream: bodyStream(req), contentType: contentType(req), fileName: q.filename, userId: requester(req).userId };
      await closeOnTooLarge(reply, repo.uploadPending(p.serverName!, p.mediaId!, input));
      return {};
    });
  };
}

// The media area (src/media): the repository (uploads, downloads, thumbnails, remote media hook)
// and, when url_preview_enabled, the URL previewer; built once per server and shared by the legacy
// /_matrix/media routes and the authenticated /_matrix/client/v1/media routes.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Database } from '../store/db.js';
import { createMediaRepository, type MediaRepository, type RemoteMediaFetcher } from './repository.js';
import { createUrlPreviewer, type UrlPreviewer } from './preview/previewer.js';

export type { MediaRepository, RemoteMediaFetcher, RemoteMediaResponse, MediaFile, ThumbnailFile } from './repository.js';
export type { UrlPreviewer } from './preview/previewer.js';

export interface MediaService {
  repo: MediaRepository;
  /** Undefined when url_preview_enabled is false: /preview_url then answers 404 M_UNRECOGNIZED (as Synapse). */
  previewer: UrlPreviewer | undefined;
  /** The body of GET /media/config. */
  mediaConfig(): { 'm.upload.size': number };
  close(): Promise<void>;
}

export interface MediaServiceOptions {
  db: Database;
  config: Config;
  clock?: () => number;
  logger?: Logger;
  remoteFetcher?: RemoteMediaFetcher;
  /** Time limit of each URL preview download (default 30 s). */
  previewTimeoutMs?: number;
}

export function createMediaService(opts: MediaServiceOptions): MediaService {
  const repo = createMediaRepository({
    db: opts.db,
    config: opts.config,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.remoteFetcher ? { remoteFetcher: opts.remoteFetcher } : {}),
  });
  const previewer = opts.config.url_preview_enabled
    ? createUrlPreviewer({
        repo,
        config: opts.config,
        ...(opts.clock ? { clock: opts.clock } : {}),
        ...(opts.logger ? { logger: opts.logger } : {}),
        ...(opts.previewTimeoutMs !== undefined ? { timeoutMs: opts.previewTimeoutMs } : {}),
      })
    : undefined;
  return {
    repo,
    previewer,
    mediaConfig: () => ({ 'm.upload.size': opts.config.max_upload_size }),
    async close() {
      repo.close();
      await previewer?.close();
    },
  };
}

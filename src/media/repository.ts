// The media repository: uploads streamed to disk (never whole in memory) under a size limit, async
// uploads (create, then PUT), downloads of local and remote media with a wait for pending uploads,
// and thumbnails generated once per (media, size, method, type) and kept. Remote media is fetched
// through a RemoteMediaFetcher that the federation side plugs in (setRemoteFetcher); without one,
// remote media that is not cached answers 404.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { MatrixError } from '../errors.js';
import type { Database } from '../store/db.js';
import { uploadContentType, isWellFormedString } from './http-rules.js';
import { generateMediaId, isValidMediaId, isValidMediaOrigin } from './ids.js';
import { probeImage, renderThumbnail } from './image.js';
import { MediaPaths } from './paths.js';
import { createMediaStore, type LocalMediaRow, type MediaStore, type RemoteMediaRow } from './store.js';
import {
  ANIMATED_THUMBNAIL_TYPE,
  candidateThumbnails,
  desiredThumbnailType,
  isAnimated,
  staticThumbnailType,
  selectThumbnail,
  type ImageFormat,
  type SourceImage,
  type ThumbnailMethod,
  type ThumbnailSpec,
} from './thumbnail-plan.js';

/** Spec: timeout_ms defaults to 20 s; "The content repository SHOULD impose a maximum" (60 s, as Synapse). */
export const DEFAULT_MEDIA_TIMEOUT_MS = 20_000;
export const MAX_MEDIA_TIMEOUT_MS = 60_000;

/** Upload file names longer than this are refused (they end up in a response header). */
const MAX_FILE_NAME_LENGTH = 1024;

/** What a remote server answered for one piece of media. */
export interface RemoteMediaResponse {
  /** The bytes; read at most up to the size limit. */
  stream: Readable;
  contentType: string | undefined;
  /** The file name from the remote Content-Disposition, if any. */
  fileName?: string | undefined;
  /** Declared length when known: refused at once when above the limit. */
  contentLength?: number | undefined;
}

/**
 * The hook the federation side implements to fetch `mxc://<origin>/<mediaId>` from its origin
 * (federation /media/download, falling back to the legacy path). Returns null when the remote
 * says the media does not exist; throws MatrixError for other failures (502 is usual).
 */
export interface RemoteMediaFetcher {
  fetch(origin: string, mediaId: string, opts: { maxBytes: number; timeoutMs: number }): Promise<RemoteMediaResponse | null>;
}

/** Media ready to be served from disk. */
export interface MediaFile {
  origin: string;
  mediaId: string;
  path: string;
  contentType: string;
  uploadName: string | null;
  length: number;
  createdTs: number;
}

export interface ThumbnailFile {
  path: string;
  contentType: string;
  length: number;
}

export interface UploadInput {
  /** The body; undefined for an empty upload. */
  stream: Readable | undefined;
  /** The Content-Type header (stored as given when well-formed). */
  contentType?: string | undefined;
  /** The `filename` query parameter. */
  fileName?: string | undefined;
  userId: string;
}

export interface GetMediaOptions {
  /** How long to wait for a pending async upload (spec timeout_ms), capped at 60 s. */
  timeoutMs?: number;
  /** false: do not fetch uncached remote media (spec allow_remote). */
  allowRemote?: boolean;
  /** A legacy unauthenticated endpoint: media marked authenticated is not served (404). */
  legacy?: boolean;
}

export interface ThumbnailRequest {
  width: number;
  height: number;
  method: ThumbnailMethod;
  animated: boolean;
}

/** The configuration keys the repository reads. */
export type MediaConfig = Pick<
  Config,
  | 'server_name'
  | 'media_store_path'
  | 'max_upload_size'
  | 'max_image_pixels'
  | 'thumbnail_sizes'
  | 'dynamic_thumbnails'
  | 'unused_expiration_time'
  | 'max_pending_media_uploads'
  | 'enable_authenticated_media'
>;

export interface MediaRepositoryOptions {
  db: Database;
  config: MediaConfig;
  clock?: () => number;
  logger?: Logger;
  remoteFetcher?: RemoteMediaFetcher;
}

export interface MediaRepository {
  readonly serverName: string;
  readonly maxUploadSize: number;
  readonly paths: MediaPaths;
  readonly store: MediaStore;
  /** Plugs in (or removes) the fetcher of remote media. */
  setRemoteFetcher(fetcher: RemoteMediaFetcher | undefined): void;
  /** POST /upload: stores the body as new local media. */
  upload(input: UploadInput): Promise<{ mediaId: string; contentUri: string }>;
  /** Stores a file the server itself fetched (URL previews); `urlCache` is the page it came from. */
  storeFetched(input: UploadInput & { urlCache: string; maxBytes: number; tooLarge: () => MatrixError }): Promise<LocalMediaRow>;
  /** POST /media/v1/create: a new mxc URI to upload to later. */
  createPending(userId: string): Promise<{ contentUri: string; unusedExpiresAt: number }>;
  /** PUT /upload/{serverName}/{mediaId}: the content of a created URI. */
  uploadPending(origin: string, mediaId: string, input: UploadInput): Promise<void>;
  /** The media to serve, local or remote; throws 404, 504 (not yet uploaded), 400 (bad server name). */
  getMedia(origin: string, mediaId: string, opts?: GetMediaOptions): Promise<MediaFile>;
  /** A thumbnail of the media, generated on first request and kept. */
  getThumbnail(origin: string, mediaId: string, req: ThumbnailRequest, opts?: GetMediaOptions): Promise<ThumbnailFile>;
  /** The probe of a stored media file (image format and size), read once and remembered. */
  imageInfo(file: MediaFile): Promise<SourceImage | undefined>;
  /** Deletes local media: its file, its thumbnails and its rows. */
  deleteLocalMedia(mediaId: string): Promise<void>;
  close(): void;
}

function tooLargeUpload(limit: number): MatrixError {
  return new MatrixError('M_TOO_LARGE', `Cannot upload files larger than ${limit} bytes`, 413);
}

/**
 * Streams `source` into a new file at `path`, hashing as it goes; fails with `tooLarge()` as soon as
 * more than `maxBytes` arrive. The source is piped, never destroyed, so that an HTTP request can
 * still be answered (413) after the limit is hit.
 */
export async function receiveToFile(
  source: Readable | undefined,
  path: string,
  maxBytes: number,
  tooLarge: () => MatrixError,
): Promise<{ length: number; sha256: string }> {
  const hash = createHash('sha256');
  let length = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      length += chunk.length;
      if (length > maxBytes) {
        cb(tooLarge());
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  if (!source) {
    await pipeline(Readable.from([]), limiter, out);
    return { length, sha256: hash.digest('hex') };
  }
  const onError = (e: Error) => limiter.destroy(e);
  const onClose = () => {
    if (!source.readableEnded) limiter.destroy(new MatrixError('M_UNKNOWN', 'Upload interrupted', 400));
  };
  source.once('error', onError);
  source.once('close', onClose);
  source.pipe(limiter);
  try {
    await pipeline(limiter, out);
  } finally {
    source.off('error', onError);
    source.off('close', onClose);
    source.unpipe(limiter);
  }
  return { length, sha256: hash.digest('hex') };
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    /* already gone */
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function checkFileName(name: string | undefined): string | null {
  if (name === undefined || name === '') return null;
  if (name.length > MAX_FILE_NAME_LENGTH) throw new MatrixError('M_INVALID_PARAM', 'filename is too long', 400);
  if (!isWellFormedString(name)) throw new MatrixError('M_INVALID_PARAM', 'filename is not valid Unicode', 400);
  return name;
}

const notFound = () => new MatrixError('M_NOT_FOUND', 'Media not found', 404);

export function createMediaRepository(opts: MediaRepositoryOptions): MediaRepository {
  const { config } = opts;
  const clock = opts.clock ?? Date.now;
  const log = opts.logger;
  const serverName = config.server_name;
  const maxUploadSize = config.max_upload_size;
  const paths = new MediaPaths(config.media_store_path);
  const store = createMediaStore(opts.db);
  let remoteFetcher = opts.remoteFetcher;

  /** Waiters for pending uploads, by media ID. */
  const uploadWaiters = new Map<string, Set<() => void>>();
  /** Async uploads being received now, by media ID (a second PUT meanwhile answers 409). */
  const uploading = new Set<string>();
  /** Work in flight, shared by concurrent requests for the same result. */
  const remoteFetches = new Map<string, Promise<RemoteMediaRow>>();
  const thumbnailJobs = new Map<string, Promise<ThumbnailFile>>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  /** Image decoding runs on libuv's small thread pool, shared with file and DNS work: a few at a time. */
  const decodeSlots = createSemaphore(MAX_CONCURRENT_DECODES);

  const ready = prepareStore(paths, log);
  // Awaited before each write; this keeps a failure from being an unhandled rejection meanwhile.
  ready.catch(() => undefined);

  function notifyUploaded(mediaId: string): void {
    const set = uploadWaiters.get(mediaId);
    if (!set) return;
    uploadWaiters.delete(mediaId);
    for (const wake of set) wake();
  }

  /** Resolves when `mediaId` is uploaded or after `ms`, whichever is first. */
  function waitForUpload(mediaId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = uploadWaiters.get(mediaId);
      if (!set) uploadWaiters.set(mediaId, (set = new Set()));
      const wake = () => {
        clearTimeout(timer);
        timers.delete(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        timers.delete(timer);
        set.delete(wake);
        if (set.size === 0 && uploadWaiters.get(mediaId) === set) uploadWaiters.delete(mediaId);
        resolve();
      }, ms);
      timers.add(timer);
      set.add(wake);
    });
  }

  /** Receives a body into a temp file, then moves it to `finalPath`. */
  async function receiveInto(finalPath: string, source: Readable | undefined, maxBytes: number, tooLarge: () => MatrixError) {
    await ready;
    const tmp = paths.tempFile();
    try {
      const r = await receiveToFile(source, tmp, maxBytes, tooLarge);
      await mkdir(dirname(finalPath), { recursive: true });
      // link() refuses to replace an existing file, so content once stored is never overwritten.
      try {
        await link(tmp, finalPath);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new MatrixError('M_CANNOT_OVERWRITE_MEDIA', 'Media ID already has content', 409);
        throw e;
      }
      await removeQuietly(tmp);
      return r;
    } catch (e) {
      await removeQuietly(tmp);
      throw e;
    }
  }

  async function storeLocal(input: UploadInput, urlCache: string | null, maxBytes: number, tooLarge: () => MatrixError): Promise<LocalMediaRow> {
    const uploadName = checkFileName(input.fileName);
    const mediaType = uploadContentType(input.contentType);
    const mediaId = generateMediaId();
    const finalPath = paths.localContent(mediaId);
    const { length, sha256 } = await receiveInto(finalPath, input.stream, maxBytes, tooLarge);
    const row: LocalMediaRow & { mediaType: string; mediaLength: number } = {
      mediaId,
      userId: input.userId,
      createdTs: clock(),
      mediaType,
      uploadName,
      mediaLength: length,
      sha256,
      authenticated: config.enable_authenticated_media,
      urlCache,
    };
    try {
      await store.insertLocal(row);
    } catch (e) {
      await removeQuietly(finalPath);
      throw e;
    }
    return row;
  }

  function clampTimeout(ms: number | undefined): number {
    if (ms === undefined || !Number.isFinite(ms)) return DEFAULT_MEDIA_TIMEOUT_MS;
    return Math.max(0, Math.min(ms, MAX_MEDIA_TIMEOUT_MS));
  }

  async function getLocal(mediaId: string, o: GetMediaOptions): Promise<MediaFile> {
    // The wait is measured on the monotonic clock; `clock` (injectable) dates rows and expiry.
    const deadline = performance.now() + clampTimeout(o.timeoutMs);
    for (;;) {
      const row = await store.getLocal(mediaId);
      if (!row) throw notFound();
      if (o.legacy && row.authenticated) throw notFound();
      if (row.mediaLength !== null) {
        return {
          origin: serverName,
          mediaId,
          path: paths.localContent(mediaId),
          contentType: row.mediaType ?? 'application/octet-stream',
          uploadName: row.uploadName,
          length: row.mediaLength,
          createdTs: row.createdTs,
        };
      }
      if (row.createdTs + config.unused_expiration_time < clock()) throw new MatrixError('M_NOT_FOUND', 'Media ID has expired', 404);
      const left = deadline - performance.now();
      if (left <= 0 || closed) throw new MatrixError('M_NOT_YET_UPLOADED', 'Media has not been uploaded yet', 504);
      // Woken by the upload; the periodic look also catches an upload by another process.
      await waitForUpload(mediaId, Math.min(left, 1000));
    }
  }

  function remoteFile(row: RemoteMediaRow): MediaFile {
    return {
      origin: row.origin,
      mediaId: row.mediaId,
      path: paths.remoteContent(row.origin, row.filesystemId),
      contentType: row.mediaType,
      uploadName: row.uploadName,
      length: row.mediaLength,
      createdTs: row.createdTs,
    };
  }

  async function fetchRemote(origin: string, mediaId: string, timeoutMs: number): Promise<RemoteMediaRow> {
    const fetcher = remoteFetcher;
    if (!fetcher) throw notFound();
    const tooLarge = () => new MatrixError('M_TOO_LARGE', 'Remote media is too large', 502);
    let res: RemoteMediaResponse | null;
    try {
      res = await fetcher.fetch(origin, mediaId, { maxBytes: maxUploadSize, timeoutMs });
    } catch (e) {
      if (e instanceof MatrixError) throw e;
      log?.warn({ err: e, origin, mediaId }, 'remote media fetch failed');
      throw new MatrixError('M_UNKNOWN', 'Failed to fetch remote media', 502);
    }
    if (!res) throw notFound();
    if (res.contentLength !== undefined && res.contentLength > maxUploadSize) {
      res.stream.on('error', () => undefined);
      res.stream.destroy();
      throw tooLarge();
    }
    const fileId = generateMediaId();
    const finalPath = paths.remoteContent(origin, fileId);
    let received: { length: number; sha256: string };
    try {
      received = await receiveInto(finalPath, res.stream, maxUploadSize, tooLarge);
    } catch (e) {
      res.stream.on('error', () => undefined);
      res.stream.destroy();
      if (e instanceof MatrixError && e.errcode === 'M_TOO_LARGE') throw e;
      log?.warn({ err: e, origin, mediaId }, 'remote media download failed');
      throw new MatrixError('M_UNKNOWN', 'Failed to fetch remote media', 502);
    }
    let uploadName: string | null = null;
    try {
      uploadName = checkFileName(res.fileName);
    } catch {
      uploadName = null;
    }
    const row: RemoteMediaRow = {
      origin,
      mediaId,
      filesystemId: fileId,
      mediaType: uploadContentType(res.contentType),
      uploadName,
      mediaLength: received.length,
      sha256: received.sha256,
      createdTs: clock(),
      // Spec: remote media cached after the freeze counts as new.
      authenticated: config.enable_authenticated_media,
    };
    await store.insertRemote(row);
    return row;
  }

  async function getRemote(origin: string, mediaId: string, o: GetMediaOptions): Promise<MediaFile> {
    const cached = await store.getRemote(origin, mediaId);
    if (cached) {
      if (o.legacy && cached.authenticated) throw notFound();
      return remoteFile(cached);
    }
    if (o.allowRemote === false) throw notFound();
    const key = `${origin}\u0000${mediaId}`;
    let job = remoteFetches.get(key);
    if (!job) {
      job = fetchRemote(origin, mediaId, clampTimeout(o.timeoutMs)).finally(() => remoteFetches.delete(key));
      remoteFetches.set(key, job);
    }
    const row = await job;
    if (o.legacy && row.authenticated) throw notFound();
    return remoteFile(row);
  }

  async function getMedia(origin: string, mediaId: string, o: GetMediaOptions = {}): Promise<MediaFile> {
    if (!isValidMediaOrigin(origin)) throw new MatrixError('M_INVALID_PARAM', 'Invalid server name', 400);
    // No media with another ID can exist, so such a request is simply not found.
    if (!isValidMediaId(mediaId)) throw notFound();
    return origin === serverName ? getLocal(mediaId, o) : getRemote(origin, mediaId, o);
  }

  /** The key of a media file in the image-info and thumbnail tables ('' for local). */
  const tableOrigin = (file: MediaFile) => (file.origin === serverName ? '' : file.origin);

  async function imageInfo(file: MediaFile): Promise<SourceImage | undefined> {
    const origin = tableOrigin(file);
    const known = await store.getImageInfo(origin, file.mediaId);
    if (known) return known.format ? { format: known.format as ImageFormat, width: known.width, height: known.height, frames: known.frames } : undefined;
    const probed = await decodeSlots.run(() => probeImage(file.path));
    await store.putImageInfo(origin, file.mediaId, probed ?? { format: null, width: 0, height: 0, frames: 0 });
    return probed;
  }

  function thumbnailPath(file: MediaFile, spec: ThumbnailSpec): Promise<string> {
    if (file.origin === serverName) return Promise.resolve(paths.localThumbnail(file.mediaId, spec));
    return store.getRemote(file.origin, file.mediaId).then((row) => {
      if (!row) throw notFound();
      return paths.remoteThumbnail(file.origin, row.filesystemId, spec);
    });
  }

  async function generateThumbnail(file: MediaFile, src: SourceImage, spec: ThumbnailSpec): Promise<ThumbnailFile> {
    const origin = tableOrigin(file);
    const path = await thumbnailPath(file, spec);
    const known = await store.getThumbnail(origin, file.mediaId, spec);
    if (known && (await fileExists(path))) return { path, contentType: spec.type, length: known.length };
    let bytes: Buffer;
    try {
      bytes = await decodeSlots.run(() => renderThumbnail(file.path, src, spec, { maxPixels: config.max_image_pixels }));
    } catch (e) {
      log?.warn({ err: e, origin: file.origin, mediaId: file.mediaId }, 'thumbnail generation failed');
      throw new MatrixError('M_UNKNOWN', 'Cannot generate thumbnails for the requested content', 400);
    }
    await ready;
    const tmp = paths.tempFile();
    try {
      await writeFile(tmp, bytes, { flag: 'wx', mode: 0o600 });
      await mkdir(dirname(path), { recursive: true });
      await rename(tmp, path);
    } catch (e) {
      await removeQuietly(tmp);
      throw e;
    }
    await store.putThumbnail(origin, file.mediaId, { ...spec, length: bytes.length });
    return { path, contentType: spec.type, length: bytes.length };
  }

  async function getThumbnail(origin: string, mediaId: string, req: ThumbnailRequest, o: GetMediaOptions = {}): Promise<ThumbnailFile> {
    const file = await getMedia(origin, mediaId, o);
    const src = await imageInfo(file);
    if (!src) throw new MatrixError('M_UNKNOWN', 'Cannot generate thumbnails for the requested content', 400);
    // Spec "Security considerations": 413 for local content too large to thumbnail, 502 for remote.
    if (src.width * src.height > config.max_image_pixels) {
      throw new MatrixError('M_TOO_LARGE', 'Content is too large to thumbnail', file.origin === serverName ? 413 : 502);
    }
    const animated = req.animated && isAnimated(src);
    let spec: ThumbnailSpec | undefined;
    if (config.dynamic_thumbnails) {
      spec = { width: req.width, height: req.height, method: req.method, type: animated ? ANIMATED_THUMBNAIL_TYPE : staticThumbnailType(src.format) };
    } else {
      // animated=false MUST NOT give an animated thumbnail, so those candidates are dropped then.
      const candidates = candidateThumbnails(config.thumbnail_sizes, src).filter((t) => animated || t.type !== ANIMATED_THUMBNAIL_TYPE);
      spec = selectThumbnail({ width: req.width, height: req.height, method: req.method, type: desiredThumbnailType(animated) }, candidates);
    }
    if (!spec) throw new MatrixError('M_UNKNOWN', 'Cannot generate thumbnails for the requested content', 400);
    const key = `${file.origin}\u0000${file.mediaId}\u0000${spec.width}\u0000${spec.height}\u0000${spec.method}\u0000${spec.type}`;
    let job = thumbnailJobs.get(key);
    if (!job) {
      const chosen = spec;
      job = generateThumbnail(file, src, chosen).finally(() => thumbnailJobs.delete(key));
      thumbnailJobs.set(key, job);
    }
    return job;
  }

  return {
    serverName,
    maxUploadSize,
    paths,
    store,
    setRemoteFetcher(f) {
      remoteFetcher = f;
    },
    async upload(input) {
      const row = await storeLocal(input, null, maxUploadSize, () => tooLargeUpload(maxUploadSize));
      return { mediaId: row.mediaId, contentUri: `mxc://${serverName}/${row.mediaId}` };
    },
    storeFetched(input) {
      return storeLocal(input, input.urlCache, input.maxBytes, input.tooLarge);
    },
    async createPending(userId) {
      const now = clock();
      const expiry = config.unused_expiration_time;
      const pending = await store.countPending(userId, now - expiry);
      if (pending.count >= config.max_pending_media_uploads) {
        const retryAfter = Math.max(0, (pending.oldestTs ?? now) + expiry - now);
        throw new MatrixError('M_LIMIT_EXCEEDED', 'Too many pending media uploads', 429, { retry_after_ms: retryAfter });
      }
      const mediaId = generateMediaId();
      await store.insertPending(mediaId, userId, now, config.enable_authenticated_media);
      return { contentUri: `mxc://${serverName}/${mediaId}`, unusedExpiresAt: now + expiry };
    },
    async uploadPending(origin, mediaId, input) {
      if (origin !== serverName) throw new MatrixError('M_NOT_FOUND', 'Non-local server name specified', 404);
      if (!isValidMediaId(mediaId)) throw new MatrixError('M_NOT_FOUND', 'Unknown media ID', 404);
      if (uploading.has(mediaId)) throw new MatrixError('M_CANNOT_OVERWRITE_MEDIA', 'Media ID cannot be overwritten', 409);
      uploading.add(mediaId);
      try {
        const row = await store.getLocal(mediaId);
        if (!row) throw new MatrixError('M_NOT_FOUND', 'Unknown media ID', 404);
        if (row.userId !== input.userId) throw new MatrixError('M_FORBIDDEN', 'Only the creator of the media ID can upload to it', 403);
        if (row.mediaLength !== null) throw new MatrixError('M_CANNOT_OVERWRITE_MEDIA', 'Media ID already has content', 409);
        if (row.createdTs + config.unused_expiration_time < clock()) throw new MatrixError('M_NOT_FOUND', 'Media ID has expired', 404);
        const uploadName = checkFileName(input.fileName);
        const mediaType = uploadContentType(input.contentType);
        const finalPath = paths.localContent(mediaId);
        // The row is still pending and we hold the upload: a file already there is the leftover of
        // an upload that crashed before recording itself.
        await removeQuietly(finalPath);
        const { length, sha256 } = await receiveInto(finalPath, input.stream, maxUploadSize, () => tooLargeUpload(maxUploadSize));
        if (!(await store.completePending(mediaId, { mediaType, uploadName, mediaLength: length, sha256 }))) {
          throw new MatrixError('M_CANNOT_OVERWRITE_MEDIA', 'Media ID already has content', 409);
        }
      } finally {
        uploading.delete(mediaId);
      }
      notifyUploaded(mediaId);
    },
    getMedia,
    getThumbnail,
    imageInfo,
    async deleteLocalMedia(mediaId) {
      await store.deleteLocal(mediaId);
      await removeQuietly(paths.localContent(mediaId));
      await rm(paths.localThumbnailDir(mediaId), { recursive: true, force: true });
    },
    close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const set of uploadWaiters.values()) for (const wake of set) wake();
      uploadWaiters.clear();
    },
  };
}

/** Thumbnails rendered at once; more wait their turn. */
const MAX_CONCURRENT_DECODES = 2;

/** At most `n` of the functions given to run() at a time, the others queued in order. */
function createSemaphore(n: number): { run<T>(fn: () => Promise<T>): Promise<T> } {
  let active = 0;
  const queue: (() => void)[] = [];
  return {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      // A finishing run hands its slot straight to the next in the queue (active stays the same).
      if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
      else active++;
      try {
        return await fn();
      } finally {
        const next = queue.shift();
        if (next) next();
        else active--;
      }
    },
  };
}

/** Creates the store folders and removes temp files a crash left behind (older than a day). */
async function prepareStore(paths: MediaPaths, log: Logger | undefined): Promise<void> {
  await mkdir(paths.tempDir, { recursive: true });
  const dayAgo = Date.now() - 86_400_000;
  for (const name of await readdir(paths.tempDir)) {
    const p = join(paths.tempDir, name);
    try {
      if ((await stat(p)).mtimeMs < dayAgo) await unlink(p);
    } catch (e) {
      log?.debug({ err: e, path: p }, 'could not remove a stale media temp file');
    }
  }
}

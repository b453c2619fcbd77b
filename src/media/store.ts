// SQLite repository of the media tables (migrations/0900_media.sql): local and remote media rows,
// image probe results, thumbnails and the URL preview cache. Async-shaped at the boundary like the
// other stores; each write is one statement.
import type { Database } from '../store/db.js';

/** A local media row. `mediaLength` is null while an async upload (POST /create) is pending. */
export interface LocalMediaRow {
  mediaId: string;
  userId: string | null;
  createdTs: number;
  mediaType: string | null;
  uploadName: string | null;
  mediaLength: number | null;
  sha256: string | null;
  authenticated: boolean;
  urlCache: string | null;
}

export interface RemoteMediaRow {
  origin: string;
  mediaId: string;
  filesystemId: string;
  mediaType: string;
  uploadName: string | null;
  mediaLength: number;
  sha256: string | null;
  createdTs: number;
  authenticated: boolean;
}

/** What the decoder found in a file; `format` null when it is not an image we thumbnail. */
export interface ImageInfoRow {
  format: string | null;
  width: number;
  height: number;
  frames: number;
}

export interface ThumbnailRow {
  width: number;
  height: number;
  method: 'crop' | 'scale';
  type: string;
  length: number;
}

export interface UrlPreviewRow {
  url: string;
  fetchedTs: number;
  expiresTs: number;
  responseCode: number;
  ogJson: string;
  mediaId: string | null;
}

export interface MediaStore {
  getLocal(mediaId: string): Promise<LocalMediaRow | undefined>;
  /** Inserts a complete local upload. */
  insertLocal(row: LocalMediaRow & { mediaType: string; mediaLength: number }): Promise<void>;
  /** Inserts a pending row (POST /media/v1/create). */
  insertPending(mediaId: string, userId: string, createdTs: number, authenticated: boolean): Promise<void>;
  /** Fills a pending row with its content; false when it was not pending any more. */
  completePending(mediaId: string, c: { mediaType: string; uploadName: string | null; mediaLength: number; sha256: string }): Promise<boolean>;
  /** Pending uploads of `userId` created after `sinceTs`: how many, and the oldest creation time. */
  countPending(userId: string, sinceTs: number): Promise<{ count: number; oldestTs: number | null }>;
  getRemote(origin: string, mediaId: string): Promise<RemoteMediaRow | undefined>;
  insertRemote(row: RemoteMediaRow): Promise<void>;
  /** origin '' for local media. */
  getImageInfo(origin: string, mediaId: string): Promise<ImageInfoRow | undefined>;
  putImageInfo(origin: string, mediaId: string, info: ImageInfoRow): Promise<void>;
  getThumbnail(origin: string, mediaId: string, key: Omit<ThumbnailRow, 'length'>): Promise<ThumbnailRow | undefined>;
  putThumbnail(origin: string, mediaId: string, t: ThumbnailRow): Promise<void>;
  /** The newest preview of `url` fetched at or before `ts`. */
  getUrlPreview(url: string, ts: number): Promise<UrlPreviewRow | undefined>;
  putUrlPreview(row: UrlPreviewRow): Promise<void>;
  /** Deletes previews that expired before `ts`; returns how many. */
  deleteUrlPreviewsBefore(ts: number): Promise<number>;
  /** Media the URL previewer stored before `ts` (oldest first, at most `limit`). */
  urlCacheMediaBefore(ts: number, limit: number): Promise<string[]>;
  /** Deletes a local media row with its thumbnail and image-info rows, in one transaction. */
  deleteLocal(mediaId: string): Promise<void>;
}

interface LocalDbRow {
  media_id: string;
  user_id: string | null;
  created_ts: number;
  media_type: string | null;
  upload_name: string | null;
  media_length: number | null;
  sha256: string | null;
  authenticated: number;
  url_cache: string | null;
}

interface RemoteDbRow {
  origin: string;
  media_id: string;
  filesystem_id: string;
  media_type: string;
  upload_name: string | null;
  media_length: number;
  sha256: string | null;
  created_ts: number;
  authenticated: number;
}

export function createMediaStore(db: Database): MediaStore {
  const getLocal = db.prepare<[string], LocalDbRow>('SELECT * FROM media_local WHERE media_id = ?');
  const insertLocal = db.prepare(
    `INSERT INTO media_local (media_id, user_id, created_ts, media_type, upload_name, media_length, sha256, authenticated, url_cache)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertPending = db.prepare('INSERT INTO media_local (media_id, user_id, created_ts, authenticated) VALUES (?, ?, ?, ?)');
  const completePending = db.prepare(
    'UPDATE media_local SET media_type = ?, upload_name = ?, media_length = ?, sha256 = ? WHERE media_id = ? AND media_length IS NULL',
  );
  const countPending = db.prepare<[string, number], { n: number; oldest: number | null }>(
    'SELECT COUNT(*) AS n, MIN(created_ts) AS oldest FROM media_local WHERE user_id = ? AND media_length IS NULL AND created_ts > ?',
  );
  const getRemote = db.prepare<[string, string], RemoteDbRow>('SELECT * FROM media_remote WHERE origin = ? AND media_id = ?');
  const insertRemote = db.prepare(
    `INSERT OR REPLACE INTO media_remote (origin, media_id, filesystem_id, media_type, upload_name, media_length, sha256, created_ts, authenticated)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const getImageInfo = db.prepare<[string, string], ImageInfoRow>(
    'SELECT format, width, height, frames FROM media_image_info WHERE origin = ? AND media_id = ?',
  );
  const putImageInfo = db.prepare(
    'INSERT OR REPLACE INTO media_image_info (origin, media_id, format, width, height, frames) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const getThumbnail = db.prepare<[string, string, number, number, string, string], ThumbnailRow>(
    `SELECT width, height, method, type, length FROM media_thumbnails
     WHERE origin = ? AND media_id = ? AND width = ? AND height = ? AND method = ? AND type = ?`,
  );
  const putThumbnail = db.prepare(
    'INSERT OR REPLACE INTO media_thumbnails (origin, media_id, width, height, method, type, length) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const getUrlPreview = db.prepare<[string, number], { url: string; fetched_ts: number; expires_ts: number; response_code: number; og_json: string; media_id: string | null }>(
    'SELECT * FROM media_url_previews WHERE url = ? AND fetched_ts <= ? ORDER BY fetched_ts DESC LIMIT 1',
  );
  const putUrlPreview = db.prepare(
    'INSERT OR REPLACE INTO media_url_previews (url, fetched_ts, expires_ts, response_code, og_json, media_id) VALUES (?, ?, ?, ?, ?, ?)',
  );

  const deletePreviewsBefore = db.prepare('DELETE FROM media_url_previews WHERE expires_ts < ?');
  const urlCacheMediaBefore = db.prepare<[number, number], { media_id: string }>(
    'SELECT media_id FROM media_local WHERE url_cache IS NOT NULL AND created_ts < ? ORDER BY created_ts LIMIT ?',
  );
  const deleteLocalRow = db.prepare('DELETE FROM media_local WHERE media_id = ?');
  const deleteThumbRows = db.prepare("DELETE FROM media_thumbnails WHERE origin = '' AND media_id = ?");
  const deleteInfoRow = db.prepare("DELETE FROM media_image_info WHERE origin = '' AND media_id = ?");
  const deleteLocal = db.transaction((mediaId: string) => {
    deleteThumbRows.run(mediaId);
    deleteInfoRow.run(mediaId);
    deleteLocalRow.run(mediaId);
  });

  const toLocal = (r: LocalDbRow): LocalMediaRow => ({
    mediaId: r.media_id,
    userId: r.user_id,
    createdTs: r.created_ts,
    mediaType: r.media_type,
    uploadName: r.upload_name,
    mediaLength: r.media_length,
    sha256: r.sha256,
    authenticated: r.authenticated !== 0,
    urlCache: r.url_cache,
  });

  return {
    async getLocal(mediaId) {
      const r = getLocal.get(mediaId);
      return r ? toLocal(r) : undefined;
    },
    async insertLocal(r) {
      insertLocal.run(r.mediaId, r.userId, r.createdTs, r.mediaType, r.uploadName, r.mediaLength, r.sha256, r.authenticated ? 1 : 0, r.urlCache);
    },
    async insertPending(mediaId, userId, createdTs, authenticated) {
      insertPending.run(mediaId, userId, createdTs, authenticated ? 1 : 0);
    },
    async completePending(mediaId, c) {
      return completePending.run(c.mediaType, c.uploadName, c.mediaLength, c.sha256, mediaId).changes === 1;
    },
    async countPending(userId, sinceTs) {
      const r = countPending.get(userId, sinceTs);
      return { count: r?.n ?? 0, oldestTs: r?.oldest ?? null };
    },
    async getRemote(origin, mediaId) {
      const r = getRemote.get(origin, mediaId);
      if (!r) return undefined;
      return {
        origin: r.origin,
        mediaId: r.media_id,
        filesystemId: r.filesystem_id,
        mediaType: r.media_type,
        uploadName: r.upload_name,
        mediaLength: r.media_length,
        sha256: r.sha256,
        createdTs: r.created_ts,
        authenticated: r.authenticated !== 0,
      };
    },
    async insertRemote(r) {
      insertRemote.run(r.origin, r.mediaId, r.filesystemId, r.mediaType, r.uploadName, r.mediaLength, r.sha256, r.createdTs, r.authenticated ? 1 : 0);
    },
    async getImageInfo(origin, mediaId) {
      return getImageInfo.get(origin, mediaId);
    },
    async putImageInfo(origin, mediaId, i) {
      putImageInfo.run(origin, mediaId, i.format, i.width, i.height, i.frames);
    },
    async getThumbnail(origin, mediaId, k) {
      return getThumbnail.get(origin, mediaId, k.width, k.height, k.method, k.type);
    },
    async putThumbnail(origin, mediaId, t) {
      putThumbnail.run(origin, mediaId, t.width, t.height, t.method, t.type, t.length);
    },
    async getUrlPreview(url, ts) {
      const r = getUrlPreview.get(url, ts);
      if (!r) return undefined;
      return { url: r.url, fetchedTs: r.fetched_ts, expiresTs: r.expires_ts, responseCode: r.response_code, ogJson: r.og_json, mediaId: r.media_id };
    },
    async putUrlPreview(r) {
      putUrlPreview.run(r.url, r.fetchedTs, r.expiresTs, r.responseCode, r.ogJson, r.mediaId);
    },
    async deleteUrlPreviewsBefore(ts) {
      return deletePreviewsBefore.run(ts).changes;
    },
    async urlCacheMediaBefore(ts, limit) {
      return urlCacheMediaBefore.all(ts, limit).map((r) => r.media_id);
    },
    async deleteLocal(mediaId) {
      deleteLocal(mediaId);
    },
  };
}

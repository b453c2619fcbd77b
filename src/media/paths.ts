// Where media files live under media_store_path, in Synapse's layout (so an operator can move a
// Synapse media store over): local_content/ab/cd/efgh..., local_thumbnails/ab/cd/efgh.../<w>-<h>-
// <type>-<subtype>-<method>, remote_content/<origin>/ab/cd/..., remote_thumbnail/<origin>/ab/cd/...
// Every ID and origin is checked against the strict alphabets of ids.ts before a path is built, and
// every path is checked to stay inside the store.
import { randomBytes } from 'node:crypto';
import { join, resolve, sep } from 'node:path';
import { isValidMediaId, isValidMediaOrigin } from './ids.js';

/** A thumbnail's identity on disk: requested size, method and output content type. */
export interface ThumbnailKey {
  width: number;
  height: number;
  method: 'crop' | 'scale';
  /** One of the content types thumbnails are written in (image/jpeg, image/png, image/webp). */
  type: string;
}

const THUMBNAIL_TYPE_RE = /^image\/(jpeg|png|webp|gif)$/;

export class MediaPaths {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** Folder of upload and download files still being written (renamed into place when complete). */
  get tempDir(): string {
    return join(this.root, 'tmp');
  }

  /** A fresh, unique path in the temp folder. */
  tempFile(): string {
    return join(this.tempDir, randomBytes(12).toString('hex'));
  }

  localContent(mediaId: string): string {
    return this.inside('local_content', ...splitId(mediaId));
  }

  localThumbnail(mediaId: string, t: ThumbnailKey): string {
    return this.inside('local_thumbnails', ...splitId(mediaId), thumbnailName(t));
  }

  /** The folder of all thumbnails of one local media. */
  localThumbnailDir(mediaId: string): string {
    return this.inside('local_thumbnails', ...splitId(mediaId));
  }

  /** `fileId` is our own random name for the remote file, never the remote server's media ID. */
  remoteContent(origin: string, fileId: string): string {
    return this.inside('remote_content', checkOrigin(origin), ...splitId(fileId));
  }

  remoteThumbnail(origin: string, fileId: string, t: ThumbnailKey): string {
    return this.inside('remote_thumbnail', checkOrigin(origin), ...splitId(fileId), thumbnailName(t));
  }

  /** Joins under the root and refuses anything that would leave it (defence in depth). */
  private inside(...parts: string[]): string {
    const p = resolve(this.root, ...parts);
    if (!p.startsWith(this.root + sep)) throw new Error(`media path escapes the store: ${p}`);
    return p;
  }
}

/** `abcdefgh` -> [`ab`, `cd`, `efgh`]: spreads files over folders (at most 64^4 per level pair). */
function splitId(id: string): [string, string, string] {
  if (!isValidMediaId(id) || id.length < 5) throw new Error(`not a storable media ID: ${JSON.stringify(id)}`);
  return [id.slice(0, 2), id.slice(2, 4), id.slice(4)];
}

function checkOrigin(origin: string): string {
  if (!isValidMediaOrigin(origin)) throw new Error(`not a valid media origin: ${JSON.stringify(origin)}`);
  return origin;
}

function thumbnailName(t: ThumbnailKey): string {
  const m = THUMBNAIL_TYPE_RE.exec(t.type);
  if (!m || !Number.isSafeInteger(t.width) || !Number.isSafeInteger(t.height) || (t.method !== 'crop' && t.method !== 'scale')) {
    throw new Error(`not a thumbnail key: ${JSON.stringify(t)}`);
  }
  return `${t.width}-${t.height}-image-${m[1]}-${t.method}`;
}

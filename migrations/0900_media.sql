-- The media repository (src/media): metadata of local uploads, of cached remote media, of the
-- thumbnails generated from either, and the URL preview cache. The bytes live on disk under
-- media_store_path (Synapse's layout, see src/media/paths.ts); these rows say what they are.

-- Local media: one row per mxc://<our server>/<media_id>. A row created by POST /media/v1/create has
-- no content yet (media_length NULL) until its creator PUTs it, before created_ts + unused expiry.
CREATE TABLE media_local (
  media_id       TEXT    PRIMARY KEY,
  user_id        TEXT,
  created_ts     INTEGER NOT NULL,
  media_type     TEXT,
  upload_name    TEXT,
  media_length   INTEGER,
  sha256         TEXT,
  -- 1: only served by the authenticated endpoints (config enable_authenticated_media: the spec's
  -- "freeze" of unauthenticated media); 0: also by the legacy /_matrix/media/*/download.
  authenticated  INTEGER NOT NULL DEFAULT 0,
  -- The page URL for images the URL previewer stored (og:image), NULL for uploads.
  url_cache      TEXT
) WITHOUT ROWID;
-- Pending async uploads per user (max_pending_media_uploads).
CREATE INDEX media_local_pending ON media_local (user_id, created_ts) WHERE media_length IS NULL;

-- Remote media fetched from its origin server and cached (filled by a RemoteMediaFetcher).
CREATE TABLE media_remote (
  origin         TEXT    NOT NULL,
  media_id       TEXT    NOT NULL,
  -- Our own random name for the file under remote_content/<origin>/ (never the remote's ID).
  filesystem_id  TEXT    NOT NULL,
  media_type     TEXT    NOT NULL,
  upload_name    TEXT,
  media_length   INTEGER NOT NULL,
  sha256         TEXT,
  created_ts     INTEGER NOT NULL,
  authenticated  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (origin, media_id)
) WITHOUT ROWID;

-- What the image decoder found in a file (read once, on the first thumbnail request). origin is ''
-- for local media. format NULL: not an image we thumbnail.
CREATE TABLE media_image_info (
  origin    TEXT    NOT NULL,
  media_id  TEXT    NOT NULL,
  format    TEXT,
  width     INTEGER,
  height    INTEGER,
  frames    INTEGER,
  PRIMARY KEY (origin, media_id)
) WITHOUT ROWID;

-- Generated thumbnails, one file each; origin '' for local media.
CREATE TABLE media_thumbnails (
  origin    TEXT    NOT NULL,
  media_id  TEXT    NOT NULL,
  width     INTEGER NOT NULL,
  height    INTEGER NOT NULL,
  method    TEXT    NOT NULL CHECK (method IN ('crop', 'scale')),
  type      TEXT    NOT NULL,
  length    INTEGER NOT NULL,
  PRIMARY KEY (origin, media_id, width, height, method, type)
) WITHOUT ROWID;

-- URL previews (GET /preview_url): the Open Graph JSON per URL and fetch time, reused until
-- expires_ts; `ts` in a request picks the newest preview fetched at or before it.
CREATE TABLE media_url_previews (
  url            TEXT    NOT NULL,
  fetched_ts     INTEGER NOT NULL,
  expires_ts     INTEGER NOT NULL,
  response_code  INTEGER NOT NULL,
  og_json        TEXT    NOT NULL,
  media_id       TEXT,
  PRIMARY KEY (url, fetched_ts)
) WITHOUT ROWID;
CREATE INDEX media_url_previews_expiry ON media_url_previews (expires_ts);

-- Accounts, devices, access and refresh tokens, profiles, account data, filters and the small
-- per-stream counters (src/users). Users are interned as integer ids (users.id); user IDs are
-- opaque strings everywhere else.

CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  user_id       TEXT    NOT NULL UNIQUE,
  -- argon2id PHC string; NULL when the account has no password (deactivated, or created without one).
  password_hash TEXT,
  is_admin      INTEGER NOT NULL DEFAULT 0,
  is_guest      INTEGER NOT NULL DEFAULT 0,
  -- Synapse's user_type: NULL for ordinary users, 'support' or 'bot'.
  user_type     TEXT,
  deactivated   INTEGER NOT NULL DEFAULT 0,
  created_ts    INTEGER NOT NULL
);
-- Login accepts a user ID in any case, as Synapse does (IDs were not always lower-cased).
CREATE INDEX users_lower_id ON users(lower(user_id));

CREATE TABLE devices (
  id            INTEGER PRIMARY KEY,
  user_nid      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  device_id     TEXT    NOT NULL,
  display_name  TEXT,
  last_seen_ip  TEXT,
  last_seen_ts  INTEGER,
  created_ts    INTEGER NOT NULL,
  UNIQUE (user_nid, device_id)
);

-- Refresh tokens (spec "Refreshing access tokens"). next_id points at the refresh token issued when
-- this one was used; this one stays valid until that successor (or its access token) is first used.
CREATE TABLE refresh_tokens (
  id            INTEGER PRIMARY KEY,
  token_hash    BLOB    NOT NULL UNIQUE,
  user_nid      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  device_nid    INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  next_id       INTEGER REFERENCES refresh_tokens(id) ON DELETE SET NULL,
  created_ts    INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_next ON refresh_tokens(next_id) WHERE next_id IS NOT NULL;
CREATE INDEX refresh_tokens_device ON refresh_tokens(device_nid);

-- Access tokens are stored as SHA-256 of the token: a leaked database does not leak usable tokens,
-- and the lookup is one probe of the unique index on token_hash.
CREATE TABLE access_tokens (
  id               INTEGER PRIMARY KEY,
  token_hash       BLOB    NOT NULL UNIQUE,
  user_nid         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  device_nid       INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  -- Set when the token was issued with a refresh token; such tokens expire.
  refresh_token_id INTEGER REFERENCES refresh_tokens(id) ON DELETE CASCADE,
  expires_ts       INTEGER,
  -- 0 until first use: the first use of a refreshed token revokes the refresh token it replaced.
  used             INTEGER NOT NULL DEFAULT 0,
  created_ts       INTEGER NOT NULL
);
CREATE INDEX access_tokens_user ON access_tokens(user_nid);
CREATE INDEX access_tokens_device ON access_tokens(device_nid);
CREATE INDEX access_tokens_refresh ON access_tokens(refresh_token_id) WHERE refresh_token_id IS NOT NULL;

-- Profile fields (displayname, avatar_url, m.tz and custom keys), each value as JSON text.
CREATE TABLE profile_fields (
  user_nid  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  field     TEXT    NOT NULL,
  value     TEXT    NOT NULL,
  PRIMARY KEY (user_nid, field)
) WITHOUT ROWID;

-- Global (room_id = '') and per-room account data; stream_id orders changes for /sync.
CREATE TABLE account_data (
  user_nid   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  room_id    TEXT    NOT NULL,
  type       TEXT    NOT NULL,
  content    TEXT    NOT NULL,
  stream_id  INTEGER NOT NULL,
  PRIMARY KEY (user_nid, room_id, type)
) WITHOUT ROWID;
CREATE INDEX account_data_stream ON account_data(user_nid, stream_id);

-- Sync filters; filter_id counts up per user. canonical is the filter's canonical JSON, so a client
-- that uploads the same filter on every start gets its old id back.
CREATE TABLE filters (
  user_nid   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  filter_id  INTEGER NOT NULL,
  canonical  TEXT    NOT NULL,
  PRIMARY KEY (user_nid, filter_id)
) WITHOUT ROWID;
CREATE INDEX filters_canonical ON filters(user_nid, canonical);

-- One monotonic counter per named stream (account_data, ...) for streams that are not room events.
CREATE TABLE stream_counters (
  stream    TEXT    PRIMARY KEY,
  position  INTEGER NOT NULL
) WITHOUT ROWID;

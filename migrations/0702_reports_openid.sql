-- 0702_reports_openid.sql: content reports for admins (POST .../report) and OpenID tokens
-- (POST /user/{userId}/openid/request_token, read by the federation openid/userinfo endpoint).

-- One row per report: of an event (event_id set), a room (room_id only) or a user (target_user_id).
CREATE TABLE content_reports (
  id             INTEGER PRIMARY KEY,
  kind           TEXT NOT NULL CHECK (kind IN ('event', 'room', 'user')),
  reporter       TEXT NOT NULL,
  room_id        TEXT,
  event_id       TEXT,
  target_user_id TEXT,
  reason         TEXT,
  -- The request body as sent (JSON text), for fields such as the deprecated `score`.
  content        TEXT NOT NULL,
  received_ts    INTEGER NOT NULL
);
CREATE INDEX content_reports_received ON content_reports (received_ts);
CREATE INDEX content_reports_room ON content_reports (room_id) WHERE room_id IS NOT NULL;
CREATE INDEX content_reports_target ON content_reports (target_user_id) WHERE target_user_id IS NOT NULL;

-- OpenID access tokens, stored as the SHA-256 of the token (like access tokens).
CREATE TABLE openid_tokens (
  token_hash  BLOB PRIMARY KEY,
  user_id     TEXT NOT NULL,
  valid_until INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX openid_tokens_expiry ON openid_tokens (valid_until);

-- 1400_admin.sql: account moderation (suspension, locks, erasure), the addresses and user agents
-- each device was seen with (whois), and read indexes for the admin and room-lookup APIs (src/admin).

-- Suspension (spec "Account suspension", MSC3823), locks (spec "Account locking", MSC3939) and
-- GDPR erasure of local users. A row exists only once one of them was set.
CREATE TABLE account_status (
  user_nid    INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  suspended   INTEGER NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1)),
  locked      INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
  erased      INTEGER NOT NULL DEFAULT 0 CHECK (erased IN (0, 1)),
  updated_ts  INTEGER NOT NULL
);

-- Each (device, address, user agent) an access token was used from, with when it was last seen
-- (Synapse's user_ips): GET /admin/whois. Written at most once a minute per token and connection.
CREATE TABLE client_ips (
  user_nid    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  device_id   TEXT    NOT NULL,
  ip          TEXT    NOT NULL,
  user_agent  TEXT    NOT NULL,
  last_seen   INTEGER NOT NULL,
  PRIMARY KEY (user_nid, device_id, ip, user_agent)
) WITHOUT ROWID;

-- GET /rooms/{roomId}/timestamp_to_event and the federation endpoint: the event closest to a time.
CREATE INDEX events_room_origin_ts ON events (room_nid, origin_server_ts);

-- GET /_synapse/admin/v1/users/{userId}/media: a user's uploads, newest first.
CREATE INDEX media_local_user ON media_local (user_id, created_ts);

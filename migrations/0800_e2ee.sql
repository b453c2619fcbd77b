-- End-to-end encryption (src/e2ee): device keys, one-time and fallback keys, cross-signing keys and
-- signatures, the device-list stream, the to-device inbox, server-side key backups and dehydrated
-- devices. The server never sees plaintext: every key object and message is kept as the JSON text
-- the client uploaded. User IDs are kept as text because the same tables will cache remote users'
-- keys (federation), who have no row in `users`.

-- Device identity keys (spec "Uploading keys"): one signed object per device, as uploaded.
CREATE TABLE e2e_device_keys (
  user_id    TEXT    NOT NULL,
  device_id  TEXT    NOT NULL,
  key_json   TEXT    NOT NULL,
  ts         INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id)
) WITHOUT ROWID;

-- One-time keys, clustered by device and upload order (`seq`): /keys/claim hands keys out oldest
-- first (spec), one DELETE ... RETURNING per claim so a key is never given out twice, and a claim
-- touches one leaf page per device. Key IDs are unique per (device, algorithm); that is checked
-- in the upload transaction rather than by a second index, which would double the pages every
-- claim dirties (measured in bench/e2ee.bench.ts: 3-4x slower claims).
CREATE TABLE e2e_one_time_keys (
  user_id    TEXT    NOT NULL,
  device_id  TEXT    NOT NULL,
  algorithm  TEXT    NOT NULL,
  seq        INTEGER NOT NULL,
  key_id     TEXT    NOT NULL,
  key_json   TEXT    NOT NULL,
  ts         INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id, algorithm, seq)
) WITHOUT ROWID;

-- Fallback keys: at most one per (device, algorithm); `used` once handed out by /keys/claim.
CREATE TABLE e2e_fallback_keys (
  user_id    TEXT    NOT NULL,
  device_id  TEXT    NOT NULL,
  algorithm  TEXT    NOT NULL,
  key_id     TEXT    NOT NULL,
  key_json   TEXT    NOT NULL,
  used       INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, device_id, algorithm)
) WITHOUT ROWID;

-- The current cross-signing keys of each user (key_type: master, self_signing, user_signing);
-- public_key is the unpadded base64 key, the "device ID" signatures are filed under.
CREATE TABLE e2e_cross_signing_keys (
  user_id     TEXT    NOT NULL,
  key_type    TEXT    NOT NULL CHECK (key_type IN ('master', 'self_signing', 'user_signing')),
  public_key  TEXT    NOT NULL,
  key_json    TEXT    NOT NULL,
  ts          INTEGER NOT NULL,
  PRIMARY KEY (user_id, key_type)
) WITHOUT ROWID;

-- Signatures uploaded through /keys/signatures/upload: `signer_user_id`'s key `signer_key_id`
-- signed `target_user_id`'s device or cross-signing key (`target_key_id`: a device ID or a
-- cross-signing public key). Merged into /keys/query answers.
CREATE TABLE e2e_cross_signing_signatures (
  target_user_id  TEXT NOT NULL,
  target_key_id   TEXT NOT NULL,
  signer_user_id  TEXT NOT NULL,
  signer_key_id   TEXT NOT NULL,
  signature       TEXT NOT NULL,
  PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
) WITHOUT ROWID;
CREATE INDEX e2e_signatures_signer ON e2e_cross_signing_signatures (signer_user_id, signer_key_id);

-- The device-list stream (positions from stream_counters 'device_lists'): user_id's devices or
-- cross-signing keys changed at stream_id. viewer_id NULL: every user sharing a room with user_id
-- is told; otherwise only viewer_id (a signature the viewer made with their user-signing key).
CREATE TABLE e2e_device_list_stream (
  stream_id  INTEGER NOT NULL,
  user_id    TEXT    NOT NULL,
  viewer_id  TEXT
);
CREATE INDEX e2e_device_list_stream_pos ON e2e_device_list_stream (stream_id);
CREATE INDEX e2e_device_list_stream_viewer ON e2e_device_list_stream (viewer_id, stream_id) WHERE viewer_id IS NOT NULL;

-- Joins and leaves (current-state membership changes to and from 'join'), stamped on the same
-- stream inside the event's transaction: who newly shares a room with whom, and who no longer does.
CREATE TABLE e2e_device_list_memberships (
  stream_id  INTEGER NOT NULL,
  room_nid   INTEGER NOT NULL,
  user_id    TEXT    NOT NULL,
  joined     INTEGER NOT NULL CHECK (joined IN (0, 1))
);
CREATE INDEX e2e_dl_memberships_room ON e2e_device_list_memberships (room_nid, stream_id);
CREATE INDEX e2e_dl_memberships_user ON e2e_device_list_memberships (user_id, stream_id);

-- To-device messages waiting for a device (positions from stream_counters 'to_device'); deleted
-- once the device acknowledges them by syncing with a later token. message_json is
-- {"sender", "type", "content"} with the content exactly as sent.
CREATE TABLE e2e_device_inbox (
  user_id       TEXT    NOT NULL,
  device_id     TEXT    NOT NULL,
  stream_id     INTEGER NOT NULL,
  message_json  TEXT    NOT NULL,
  PRIMARY KEY (user_id, device_id, stream_id)
) WITHOUT ROWID;

-- Transaction IDs of /sendToDevice per sending device (idempotency), pruned after a day.
CREATE TABLE e2e_to_device_txns (
  user_id     TEXT    NOT NULL,
  device_id   TEXT    NOT NULL,
  event_type  TEXT    NOT NULL,
  txn_id      TEXT    NOT NULL,
  ts          INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id, event_type, txn_id)
) WITHOUT ROWID;
CREATE INDEX e2e_to_device_txns_ts ON e2e_to_device_txns (ts);

-- Server-side key backups (spec "Server-side key backups"). Versions count up per user and are
-- never reused; a deleted version keeps its row (deleted = 1) so deleting it again succeeds.
CREATE TABLE e2e_room_keys_versions (
  user_id    TEXT    NOT NULL,
  version    INTEGER NOT NULL,
  algorithm  TEXT    NOT NULL,
  auth_data  TEXT    NOT NULL,
  etag       INTEGER NOT NULL DEFAULT 0,
  deleted    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, version)
) WITHOUT ROWID;

CREATE TABLE e2e_room_keys (
  user_id              TEXT    NOT NULL,
  version              INTEGER NOT NULL,
  room_id              TEXT    NOT NULL,
  session_id           TEXT    NOT NULL,
  first_message_index  INTEGER NOT NULL,
  forwarded_count      INTEGER NOT NULL,
  is_verified          INTEGER NOT NULL,
  session_data         TEXT    NOT NULL,
  PRIMARY KEY (user_id, version, room_id, session_id)
) WITHOUT ROWID;

-- Dehydrated devices (MSC3814): at most one per user; the device itself is a row in `devices`.
CREATE TABLE e2e_dehydrated_devices (
  user_id      TEXT PRIMARY KEY,
  device_id    TEXT NOT NULL,
  device_data  TEXT NOT NULL
) WITHOUT ROWID;

-- Outbound federation (src/federation/sender): per-destination queues of PDUs and EDUs that
-- survive a restart, transaction IDs, retry backoff, and the catch-up positions per room.

-- One row per remote server we have sent to or queued for.
CREATE TABLE federation_destinations (
  destination            TEXT PRIMARY KEY,
  -- The last transaction ID used (IDs are numbers, strictly increasing per destination).
  last_txn_id            INTEGER NOT NULL DEFAULT 0,
  -- Backoff after failures: the current interval (0 = the last attempt succeeded) and when to retry.
  retry_interval_ms      INTEGER NOT NULL DEFAULT 0,
  next_retry_ts          INTEGER NOT NULL DEFAULT 0,
  -- 1 while the destination is caught up by sending only the latest event per room.
  catching_up            INTEGER NOT NULL DEFAULT 0,
  last_success_ts        INTEGER,
  -- The highest stream ordering of a PDU delivered to the destination.
  last_successful_stream INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- PDUs waiting for a destination, in stream order. Written inside the event's own transaction (a
-- derived writer), so a crash between the commit and the send loses nothing. Not written while
-- the destination is catching up (federation_destination_rooms says what it lacks then).
CREATE TABLE federation_pdu_queue (
  destination     TEXT NOT NULL,
  stream_ordering INTEGER NOT NULL,
  event_nid       INTEGER NOT NULL,
  room_nid        INTEGER NOT NULL,
  PRIMARY KEY (destination, stream_ordering)
) WITHOUT ROWID;

-- Per destination and room: the newest local event the destination should have, and the newest
-- delivered. Catch-up sends the event at latest_stream of each room where it is ahead of sent_stream.
CREATE TABLE federation_destination_rooms (
  destination      TEXT NOT NULL,
  room_nid         INTEGER NOT NULL,
  latest_stream    INTEGER NOT NULL,
  latest_event_nid INTEGER NOT NULL,
  sent_stream      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (destination, room_nid)
) WITHOUT ROWID;

-- EDUs whose loss matters (to-device messages, device list and signing key updates), in order.
CREATE TABLE federation_edu_queue (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  destination TEXT NOT NULL,
  edu_type    TEXT NOT NULL,
  content     TEXT NOT NULL,
  created_ts  INTEGER NOT NULL
);
CREATE INDEX federation_edu_queue_destination ON federation_edu_queue (destination, id);

-- Outbound device lists (spec "Device Management"): what was last announced of each local device
-- (a digest of its keys; item 'd:<device_id>' a device, 'x' the user's cross-signing keys), and per
-- destination the stream_id of the last m.device_list_update queued for it (the next one's prev_id).
CREATE TABLE federation_device_announced (
  user_id TEXT NOT NULL,
  item    TEXT NOT NULL,
  digest  TEXT NOT NULL,
  PRIMARY KEY (user_id, item)
) WITHOUT ROWID;

CREATE TABLE federation_device_list_sent (
  destination TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  stream_id   INTEGER NOT NULL,
  PRIMARY KEY (destination, user_id)
) WITHOUT ROWID;

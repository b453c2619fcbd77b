-- Receipts and presence (src/ephemeral). Typing is in memory only, as in Synapse. Both streams
-- take their positions from stream_counters ('receipts', 'presence'), stamped in the same
-- transaction as the row, so sync reads "changed after N" with one indexed range.

-- The latest receipt per (room, user, receipt type, thread): spec "Receipts", each such tuple is
-- associated with a single event. thread_id '' is an unthreaded receipt; 'main' or a thread
-- root's event ID otherwise.
CREATE TABLE receipts (
  room_nid      INTEGER NOT NULL REFERENCES rooms (room_nid),
  user_id       TEXT    NOT NULL,
  receipt_type  TEXT    NOT NULL,
  thread_id     TEXT    NOT NULL,
  event_id      TEXT    NOT NULL,
  -- Stream ordering of the acknowledged event when we have it (a remote receipt may name an event
  -- we have not received yet): receipts only move forward in the stream, and push counts read it.
  event_stream  INTEGER,
  ts            INTEGER NOT NULL,
  stream_id     INTEGER NOT NULL,
  PRIMARY KEY (room_nid, user_id, receipt_type, thread_id)
) WITHOUT ROWID;
-- Incremental sync: receipts changed after a position, across rooms or in one room.
CREATE INDEX receipts_stream ON receipts (stream_id);
CREATE INDEX receipts_room_stream ON receipts (room_nid, stream_id);

-- Presence of local users (and remote users we heard of over federation).
CREATE TABLE presence (
  user_id           TEXT    PRIMARY KEY,
  state             TEXT    NOT NULL CHECK (state IN ('online', 'unavailable', 'offline')),
  status_msg        TEXT,
  last_active_ts    INTEGER NOT NULL,
  last_sync_ts      INTEGER NOT NULL,
  currently_active  INTEGER NOT NULL CHECK (currently_active IN (0, 1)),
  stream_id         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX presence_stream ON presence (stream_id);

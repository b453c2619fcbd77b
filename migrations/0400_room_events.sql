-- 0400_room_events.sql: client transaction IDs (idempotent /send and /redact), the relations index
-- (m.relates_to of accepted events), thread summaries, and the redactions that apply to stored events.
-- All but client_txns are written by derived writers inside the persistEvent transaction (src/rooms).

-- Transaction IDs of client requests (client-server API "Transaction identifiers"): scoped per
-- device (or per access token when there is no device) and per endpoint path.
CREATE TABLE client_txns (
  user_id    TEXT    NOT NULL,
  scope      TEXT    NOT NULL, -- the device ID, or 'token:<id>' for a request without a device
  endpoint   TEXT    NOT NULL, -- the request path without its version prefix and txnId
  txn_id     TEXT    NOT NULL,
  room_id    TEXT    NOT NULL,
  event_id   TEXT    NOT NULL,
  created_ts INTEGER NOT NULL,
  PRIMARY KEY (user_id, scope, endpoint, txn_id)
) WITHOUT ROWID;
CREATE INDEX client_txns_event ON client_txns (event_id);
CREATE INDEX client_txns_created ON client_txns (created_ts);

-- One row per accepted event carrying a well-formed content["m.relates_to"] with a rel_type
-- (spec "Forming relationships between events"). Rows of redacted children are deleted.
CREATE TABLE event_relations (
  event_nid        INTEGER PRIMARY KEY REFERENCES events (event_nid), -- the child
  room_nid         INTEGER NOT NULL REFERENCES rooms (room_nid),
  parent_nid       INTEGER NOT NULL REFERENCES event_ids (event_nid), -- may not be stored (yet)
  rel_type         TEXT    NOT NULL,
  type             TEXT    NOT NULL, -- the child's event type
  sender           TEXT    NOT NULL,
  aggregation_key  TEXT,             -- m.annotation `key`
  is_state         INTEGER NOT NULL CHECK (is_state IN (0, 1)),
  has_new_content  INTEGER NOT NULL CHECK (has_new_content IN (0, 1)), -- m.replace validity
  depth            INTEGER NOT NULL,
  stream_ordering  INTEGER NOT NULL,
  origin_server_ts INTEGER NOT NULL
);
CREATE INDEX event_relations_parent ON event_relations (parent_nid, rel_type, depth, stream_ordering);
CREATE INDEX event_relations_sender ON event_relations (parent_nid, rel_type, sender);
CREATE INDEX event_relations_annotation ON event_relations (parent_nid, type, aggregation_key, sender)
  WHERE rel_type = 'm.annotation';

-- Thread roots of each room with their latest thread event (topologically), for GET /threads.
CREATE TABLE room_threads (
  room_nid      INTEGER NOT NULL REFERENCES rooms (room_nid),
  root_nid      INTEGER NOT NULL REFERENCES event_ids (event_nid),
  latest_nid    INTEGER NOT NULL REFERENCES events (event_nid),
  latest_depth  INTEGER NOT NULL,
  latest_stream INTEGER NOT NULL,
  PRIMARY KEY (room_nid, root_nid)
) WITHOUT ROWID;
CREATE INDEX room_threads_latest ON room_threads (room_nid, latest_depth, latest_stream);

-- Stored events with an accepted redaction that applies to them (same room; in v3+ rooms the
-- redaction's sender had the redact level or is on the redacted sender's server).
CREATE TABLE redacted_events (
  event_nid     INTEGER PRIMARY KEY REFERENCES events (event_nid),
  redaction_nid INTEGER NOT NULL REFERENCES events (event_nid)
);

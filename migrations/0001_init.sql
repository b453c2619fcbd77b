-- 0001_init.sql: rooms, the event DAG (events, prev/auth edges), interned ids, state groups,
-- current state, memberships and forward extremities. Written by rooms/ only (see src/store/).

-- Event IDs interned as integers. A row exists for every ID ever referenced, including prev or
-- auth events not yet received, so edges can point at events we do not have.
CREATE TABLE event_ids (
  event_nid INTEGER PRIMARY KEY,
  event_id  TEXT NOT NULL UNIQUE
);

-- (type, state_key) pairs interned as integers: state groups and current state use these.
CREATE TABLE state_keys (
  state_key_nid INTEGER PRIMARY KEY,
  type          TEXT NOT NULL,
  state_key     TEXT NOT NULL,
  UNIQUE (type, state_key)
);

CREATE TABLE rooms (
  room_nid            INTEGER PRIMARY KEY,
  room_id             TEXT NOT NULL UNIQUE,
  room_version        TEXT NOT NULL,
  -- The state group holding the room's current state (the state resolved across its forward
  -- extremities); NULL until the first non-outlier event is persisted.
  current_state_group INTEGER REFERENCES state_groups (state_group),
  created_ts          INTEGER NOT NULL
);

-- A state snapshot, stored as a delta against an ancestor group (`base_group`, NULL = the empty
-- state). `parent_group` is the state it was derived from; `seq` its position along that chain of
-- logical parents (1 = the chain's first group, a full snapshot). The base is the ancestor at
-- position ((seq-1) & (seq-2)) + 1, so reading a group applies at most ~log2(seq) deltas and each
-- state change is copied into O(log n) deltas (see src/store/state-groups.ts). `delta` is a packed
-- list of (state_key_nid, event_nid) pairs, event_nid 0 meaning "absent" (delta-codec.ts).
CREATE TABLE state_groups (
  state_group   INTEGER PRIMARY KEY,
  room_nid      INTEGER NOT NULL REFERENCES rooms (room_nid),
  parent_group  INTEGER REFERENCES state_groups (state_group),
  base_group    INTEGER REFERENCES state_groups (state_group),
  seq           INTEGER NOT NULL CHECK (seq >= 1),
  delta         BLOB NOT NULL
);

CREATE TABLE events (
  event_nid          INTEGER PRIMARY KEY REFERENCES event_ids (event_nid),
  room_nid           INTEGER NOT NULL REFERENCES rooms (room_nid),
  type               TEXT NOT NULL,
  state_key_nid      INTEGER REFERENCES state_keys (state_key_nid), -- NULL: not a state event
  sender             TEXT NOT NULL,
  depth              INTEGER NOT NULL,
  origin_server_ts   INTEGER NOT NULL,
  -- Position in the global event stream; NULL for outliers. Topological order is (depth, stream_ordering).
  stream_ordering    INTEGER UNIQUE,
  outlier            INTEGER NOT NULL DEFAULT 0 CHECK (outlier IN (0, 1)),
  rejected_reason    TEXT,             -- non-NULL: rejected; never enters state nor reaches clients
  soft_failed        INTEGER NOT NULL DEFAULT 0 CHECK (soft_failed IN (0, 1)),
  state_group_before INTEGER REFERENCES state_groups (state_group), -- NULL for outliers and the create event
  state_group_after  INTEGER REFERENCES state_groups (state_group), -- NULL for outliers
  redacts_nid        INTEGER REFERENCES event_ids (event_nid),     -- m.room.redaction target
  received_ts        INTEGER NOT NULL,
  json               TEXT NOT NULL     -- the PDU exactly as received or built, never re-serialised
);
CREATE INDEX events_room_topological ON events (room_nid, depth, stream_ordering);
CREATE INDEX events_room_stream ON events (room_nid, stream_ordering) WHERE stream_ordering IS NOT NULL;
CREATE INDEX events_redacts ON events (redacts_nid) WHERE redacts_nid IS NOT NULL;

-- prev_events edges. prev_nid may name an event we have not received.
CREATE TABLE event_edges (
  event_nid INTEGER NOT NULL REFERENCES events (event_nid),
  prev_nid  INTEGER NOT NULL REFERENCES event_ids (event_nid),
  PRIMARY KEY (event_nid, prev_nid)
) WITHOUT ROWID;
CREATE INDEX event_edges_prev ON event_edges (prev_nid);

-- auth_events edges (as listed in the event; for v12 the create event is implied, not listed).
CREATE TABLE event_auth_edges (
  event_nid INTEGER NOT NULL REFERENCES events (event_nid),
  auth_nid  INTEGER NOT NULL REFERENCES event_ids (event_nid),
  PRIMARY KEY (event_nid, auth_nid)
) WITHOUT ROWID;

-- Events of the room without accepted children: the prev_events of the next local event.
CREATE TABLE forward_extremities (
  room_nid  INTEGER NOT NULL REFERENCES rooms (room_nid),
  event_nid INTEGER NOT NULL REFERENCES events (event_nid),
  PRIMARY KEY (room_nid, event_nid)
) WITHOUT ROWID;

-- The room's current state, kept equal to the state group rooms.current_state_group.
CREATE TABLE current_state (
  room_nid      INTEGER NOT NULL REFERENCES rooms (room_nid),
  state_key_nid INTEGER NOT NULL REFERENCES state_keys (state_key_nid),
  event_nid     INTEGER NOT NULL REFERENCES events (event_nid),
  PRIMARY KEY (room_nid, state_key_nid)
) WITHOUT ROWID;

-- Every change of current state, in stream order: what sync reads to tell clients about state
-- changes since a token without scanning the room.
CREATE TABLE current_state_delta_stream (
  stream_ordering INTEGER NOT NULL,
  room_nid        INTEGER NOT NULL REFERENCES rooms (room_nid),
  state_key_nid   INTEGER NOT NULL REFERENCES state_keys (state_key_nid),
  event_nid       INTEGER REFERENCES events (event_nid), -- NULL: the entry left the state
  prev_event_nid  INTEGER REFERENCES events (event_nid),
  PRIMARY KEY (stream_ordering, room_nid, state_key_nid)
) WITHOUT ROWID;
CREATE INDEX current_state_delta_room ON current_state_delta_stream (room_nid, stream_ordering);

-- Membership of each user per room according to the current state (derived from current_state).
CREATE TABLE room_memberships (
  room_nid        INTEGER NOT NULL REFERENCES rooms (room_nid),
  user_id         TEXT NOT NULL,
  membership      TEXT NOT NULL,
  event_nid       INTEGER NOT NULL REFERENCES events (event_nid),
  stream_ordering INTEGER NOT NULL,
  PRIMARY KEY (room_nid, user_id)
) WITHOUT ROWID;
CREATE INDEX room_memberships_user ON room_memberships (user_id, membership);

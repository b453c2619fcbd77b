-- Inbound federation: answered transactions (idempotent /send) and backward extremities (where
-- backfill resumes). Written by src/federation/inbound/.

-- The answer to each (origin, txn_id) /send, replayed as is when the transaction comes again
-- (server-server API "Transactions": the sender retries until it gets a 200). Pruned after a day.
CREATE TABLE federation_inbound_txns (
  origin        TEXT NOT NULL,
  txn_id        TEXT NOT NULL,
  response_json TEXT NOT NULL,
  received_ts   INTEGER NOT NULL,
  PRIMARY KEY (origin, txn_id)
) WITHOUT ROWID;
CREATE INDEX federation_inbound_txns_ts ON federation_inbound_txns (received_ts);

-- Prev events of our events (with state) that we lack or hold only as outliers: the edge of the
-- history we have. `depth` is the depth of the deepest event of ours pointing at it. Kept by a
-- derived writer inside each event's transaction.
CREATE TABLE federation_backward_extremities (
  room_nid  INTEGER NOT NULL REFERENCES rooms (room_nid),
  event_nid INTEGER NOT NULL REFERENCES event_ids (event_nid),
  depth     INTEGER NOT NULL,
  PRIMARY KEY (room_nid, event_nid)
) WITHOUT ROWID;
CREATE INDEX federation_backward_extremities_depth ON federation_backward_extremities (room_nid, depth);

INSERT OR IGNORE INTO federation_backward_extremities (room_nid, event_nid, depth)
  SELECT e.room_nid, ee.prev_nid, MAX(e.depth)
    FROM events e
    JOIN event_edges ee ON ee.event_nid = e.event_nid
    LEFT JOIN events p ON p.event_nid = ee.prev_nid
   WHERE e.outlier = 0 AND (p.event_nid IS NULL OR p.outlier = 1)
   GROUP BY e.room_nid, ee.prev_nid;

-- /timestamp_to_event reads the index events_room_origin_ts (room_nid, origin_server_ts), created by
-- 1400_admin.sql for the client endpoint as well.

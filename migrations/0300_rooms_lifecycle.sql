-- 0300_rooms_lifecycle.sql: room aliases hosted here, the published room directory, a per-room
-- summary of the state the directory shows (kept in the persist transaction by a derived writer,
-- src/rooms/lifecycle/store.ts), and rooms each user has forgotten (src/rooms/lifecycle).

-- Aliases of this server (client-server API "Room aliases"). `creator` may always delete it.
CREATE TABLE room_aliases (
  alias      TEXT    NOT NULL PRIMARY KEY,
  room_id    TEXT    NOT NULL,
  creator    TEXT    NOT NULL,
  created_ts INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX room_aliases_room ON room_aliases (room_id);

-- Rooms published in this server's room directory ("Published room directory").
CREATE TABLE room_directory (
  room_id      TEXT    NOT NULL PRIMARY KEY,
  published_ts INTEGER NOT NULL
) WITHOUT ROWID;

-- What the directory lists about a room, from its current state: updated from the current-state
-- deltas of every persisted event, so /publicRooms is one indexed query.
CREATE TABLE room_stats (
  room_nid           INTEGER NOT NULL PRIMARY KEY REFERENCES rooms (room_nid),
  name               TEXT,
  topic              TEXT,
  canonical_alias    TEXT,
  avatar_url         TEXT,
  join_rule          TEXT,
  history_visibility TEXT,
  guest_access       TEXT,
  room_type          TEXT,
  federatable        INTEGER NOT NULL DEFAULT 1,
  joined_members     INTEGER NOT NULL DEFAULT 0
);

-- POST /rooms/{roomId}/forget: hidden from the user's sync; removed when they get a new membership.
CREATE TABLE forgotten_rooms (
  user_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  PRIMARY KEY (user_id, room_id)
) WITHOUT ROWID;

-- Rooms persisted before this migration: their summary from the current state as stored.
INSERT INTO room_stats (room_nid, name, topic, canonical_alias, avatar_url, join_rule, history_visibility,
                        guest_access, room_type, federatable, joined_members)
SELECT r.room_nid,
  (SELECT CASE WHEN json_type(e.json, '$.content.name') = 'text' THEN json_extract(e.json, '$.content.name') END
     FROM current_state c JOIN state_keys k ON k.state_key_nid = c.state_key_nid JOIN events e ON e.event_nid = c.event_nid
    WHERE c.room_nid = r.room_nid AND k.type = 'm.room.name' AND k.state_key = ''),
  (SELECT CASE WHEN json_type(e.json, '$.content.topic') = 'text' THEN json_extract(e.json, '$.content.topic') END
     FROM current_state c JOIN state_keys k ON k.state_key_nid = c.state_key_nid JOIN events e ON e.event_nid = c.event_nid
    WHERE c.room_nid = r.room_nid AND k.type = 'm.room.topic' AND k.state_key = ''),
  (SELECT CASE WHEN json_type(e.json, '$.content.alias') = 'text' THEN json_extract(e.json, '$.content.alias') END
     FROM current_state c JOIN state_keys k ON k.state_key_nid = c.state_key_nid JOIN events e ON e.event_nid = c.event_nid
    WHERE c.room_nid = r.room_nid AND k.type = 'm.room.canonical_alias' AND k.state_key = ''),
  (SELECT CASE WHEN json_type(e.json, '$.content.url') = 'text' THEN json_extract(e.json, '$.content.url') END
     FROM current_state c JOIN state_keys k ON k.state_key_nid = c.state_key_nid JOIN events e ON e.event_nid = c.event_nid
    WHERE c.room_nid = r.room_nid AND k.type = 'm.room.avatar' AND k.state_key = ''),
  (SELECT CASE WHEN json_type(e.json, '$.content.join_rule') = 'text' THEN json_extract(e.json, '$.content.join_rule') END
     FROM current_state c JOIN state_keys k ON k.state_key_nid = c.state_key_nid JOIN events e ON e.event_nid = c.event_nid
    WHERE c.room_nid = r.room_nid AND k.type = 'm.room.join_rules' AND k.state_key = ''),
  (SELECT CASE WHEN json_type(e.json, '$.content.history_visibility') = 'text' THEN json_extract(e.json, '$.content.history_visibility') END
     FROM current_state c JOIN state_keys k ON k.state_key_nid = c.state_key_nid JOIN events e ON e.event_nid = c.event_nid
    WHERE c.room_nid = r.room_nid AND k.type = 'm.room.history_visibility' AND k.state_key = ''),
  (SELECT CASE WHEN json_type(e.json, '$.content.guest_access') = 'text' THEN json_extract(e.json, '$.content.guest_access') END
     FROM current_state c JOIN state_keys k ON k.state_key_nid = c.state_key_nid JOIN events e ON e.event_nid = c.event_nid
    WHERE c.room_nid = r.room_nid AND k.type = 'm.room.guest_access' AND k.state_key = ''),
  (SELECT CASE WHEN json_type(e.json, '$.content.type') = 'text' THEN json_extract(e.json, '$.content.type') END
     FROM current_state c JOIN state_keys k ON k.state_key_nid = c.state_key_nid JOIN events e ON e.event_nid = c.event_nid
    WHERE c.room_nid = r.room_nid AND k.type = 'm.room.create' AND k.state_key = ''),
  COALESCE((SELECT CASE WHEN json_type(e.json, '$.content."m.federate"') = 'false' THEN 0 ELSE 1 END
     FROM current_state c JOIN state_keys k ON k.state_key_nid = c.state_key_nid JOIN events e ON e.event_nid = c.event_nid
    WHERE c.room_nid = r.room_nid AND k.type = 'm.room.create' AND k.state_key = ''), 1),
  (SELECT count(*) FROM room_memberships m WHERE m.room_nid = r.room_nid AND m.membership = 'join')
FROM rooms r
WHERE r.current_state_group IS NOT NULL;

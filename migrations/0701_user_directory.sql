-- 0701_user_directory.sql: the user directory (POST /user_directory/search, src/search/user-directory.ts).
-- Local users' rows follow the users and profile_fields tables through triggers (same transaction as
-- the profile change); remote users' rows and the public-room set follow room state through a derived
-- writer in each event's persist transaction.

-- Everyone a search can find: local users (not deactivated, not support accounts) with their global
-- profile, and remote users joined to some room here with the profile of their latest join event.
CREATE TABLE user_directory (
  id           INTEGER PRIMARY KEY,
  user_id      TEXT NOT NULL UNIQUE,
  display_name TEXT,
  avatar_url   TEXT,
  is_local     INTEGER NOT NULL CHECK (is_local IN (0, 1))
);

-- Word-prefix search over the user ID's parts and the display name (external content: the text is
-- read from user_directory, kept in step by the triggers below).
CREATE VIRTUAL TABLE user_directory_search USING fts5(
  user_id, display_name,
  content = 'user_directory',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2',
  prefix = '1 2 3'
);

CREATE TRIGGER user_directory_ai AFTER INSERT ON user_directory BEGIN
  INSERT INTO user_directory_search (rowid, user_id, display_name) VALUES (NEW.id, NEW.user_id, NEW.display_name);
END;
CREATE TRIGGER user_directory_ad AFTER DELETE ON user_directory BEGIN
  INSERT INTO user_directory_search (user_directory_search, rowid, user_id, display_name)
    VALUES ('delete', OLD.id, OLD.user_id, OLD.display_name);
END;
CREATE TRIGGER user_directory_au AFTER UPDATE OF user_id, display_name ON user_directory BEGIN
  INSERT INTO user_directory_search (user_directory_search, rowid, user_id, display_name)
    VALUES ('delete', OLD.id, OLD.user_id, OLD.display_name);
  INSERT INTO user_directory_search (rowid, user_id, display_name) VALUES (NEW.id, NEW.user_id, NEW.display_name);
END;

-- Rooms whose members anyone may find: join_rules public or history_visibility world_readable
-- (Synapse's rule). Maintained from current-state changes by the derived writer.
CREATE TABLE user_directory_public_rooms (
  room_nid INTEGER PRIMARY KEY REFERENCES rooms (room_nid)
);

-- ---- local users, from the users tables ----

CREATE TRIGGER user_directory_user_created AFTER INSERT ON users
WHEN NEW.deactivated = 0 AND NEW.user_type IS NOT 'support' BEGIN
  INSERT INTO user_directory (user_id, display_name, avatar_url, is_local) VALUES (NEW.user_id, NULL, NULL, 1)
    ON CONFLICT (user_id) DO UPDATE SET is_local = 1;
END;

CREATE TRIGGER user_directory_user_deactivated AFTER UPDATE OF deactivated ON users
WHEN NEW.deactivated = 1 BEGIN
  DELETE FROM user_directory WHERE user_id = NEW.user_id;
END;

-- Profile values are stored as JSON text; only JSON strings count.
CREATE TRIGGER user_directory_profile_ins AFTER INSERT ON profile_fields
WHEN NEW.field IN ('displayname', 'avatar_url') BEGIN
  UPDATE user_directory SET
    display_name = CASE WHEN NEW.field = 'displayname'
      THEN (CASE WHEN json_valid(NEW.value) THEN (CASE WHEN json_type(NEW.value) = 'text' THEN json_extract(NEW.value, '$') END) END)
      ELSE display_name END,
    avatar_url = CASE WHEN NEW.field = 'avatar_url'
      THEN (CASE WHEN json_valid(NEW.value) THEN (CASE WHEN json_type(NEW.value) = 'text' THEN json_extract(NEW.value, '$') END) END)
      ELSE avatar_url END
  WHERE user_id = (SELECT user_id FROM users WHERE id = NEW.user_nid);
END;

CREATE TRIGGER user_directory_profile_upd AFTER UPDATE OF value ON profile_fields
WHEN NEW.field IN ('displayname', 'avatar_url') BEGIN
  UPDATE user_directory SET
    display_name = CASE WHEN NEW.field = 'displayname'
      THEN (CASE WHEN json_valid(NEW.value) THEN (CASE WHEN json_type(NEW.value) = 'text' THEN json_extract(NEW.value, '$') END) END)
      ELSE display_name END,
    avatar_url = CASE WHEN NEW.field = 'avatar_url'
      THEN (CASE WHEN json_valid(NEW.value) THEN (CASE WHEN json_type(NEW.value) = 'text' THEN json_extract(NEW.value, '$') END) END)
      ELSE avatar_url END
  WHERE user_id = (SELECT user_id FROM users WHERE id = NEW.user_nid);
END;

CREATE TRIGGER user_directory_profile_del AFTER DELETE ON profile_fields
WHEN OLD.field IN ('displayname', 'avatar_url') BEGIN
  UPDATE user_directory SET
    display_name = CASE WHEN OLD.field = 'displayname' THEN NULL ELSE display_name END,
    avatar_url = CASE WHEN OLD.field = 'avatar_url' THEN NULL ELSE avatar_url END
  WHERE user_id = (SELECT user_id FROM users WHERE id = OLD.user_nid);
END;

-- ---- fill from what is stored already ----

INSERT INTO user_directory (user_id, display_name, avatar_url, is_local)
  SELECT u.user_id,
    (SELECT CASE WHEN json_valid(p.value) THEN (CASE WHEN json_type(p.value) = 'text' THEN json_extract(p.value, '$') END) END
       FROM profile_fields p WHERE p.user_nid = u.id AND p.field = 'displayname'),
    (SELECT CASE WHEN json_valid(p.value) THEN (CASE WHEN json_type(p.value) = 'text' THEN json_extract(p.value, '$') END) END
       FROM profile_fields p WHERE p.user_nid = u.id AND p.field = 'avatar_url'),
    1
  FROM users u WHERE u.deactivated = 0 AND u.user_type IS NOT 'support';

-- Remote users (not in the users table) joined somewhere, with the profile of one of their join events.
INSERT OR IGNORE INTO user_directory (user_id, display_name, avatar_url, is_local)
  SELECT m.user_id,
    CASE WHEN json_type(e.json, '$.content.displayname') = 'text' THEN json_extract(e.json, '$.content.displayname') END,
    CASE WHEN json_type(e.json, '$.content.avatar_url') = 'text' THEN json_extract(e.json, '$.content.avatar_url') END,
    0
  FROM room_memberships m JOIN events e ON e.event_nid = m.event_nid
  WHERE m.membership = 'join' AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = m.user_id);

INSERT OR IGNORE INTO user_directory_public_rooms (room_nid)
  SELECT c.room_nid FROM current_state c
    JOIN state_keys k ON k.state_key_nid = c.state_key_nid AND k.state_key = ''
    JOIN events e ON e.event_nid = c.event_nid
  WHERE (k.type = 'm.room.join_rules' AND json_extract(e.json, '$.content.join_rule') = 'public')
     OR (k.type = 'm.room.history_visibility' AND json_extract(e.json, '$.content.history_visibility') = 'world_readable');

-- Push (src/push): users' push rules, who is in each room since when, what each event notifies,
-- and pushers. Notification outcomes are stored compactly: one row per notifying event with the
-- outcome shared by most members, plus a row per member whose outcome differs (src/push/store.ts).

-- The push rules a user changed: their own rules and their changes to server-default rules, as
-- JSON {"rules": {kind: [rule, ...]}, "overrides": {kind: {ruleId: {enabled?, actions?}}}}.
-- Users without a row use the server defaults.
CREATE TABLE push_rules (
  user_id    TEXT PRIMARY KEY,
  rules      TEXT NOT NULL,
  updated_ts INTEGER NOT NULL
);

-- Joined members of each room and the stream ordering of the join that started their current
-- membership: an event counts for a member only after it (profile changes keep the position).
CREATE TABLE push_room_members (
  room_nid     INTEGER NOT NULL REFERENCES rooms (room_nid),
  user_id      TEXT NOT NULL,
  since_stream INTEGER NOT NULL,
  PRIMARY KEY (room_nid, user_id)
) WITHOUT ROWID;
CREATE INDEX push_room_members_user ON push_room_members (user_id);
-- Rooms joined before this table existed.
INSERT INTO push_room_members (room_nid, user_id, since_stream)
  SELECT room_nid, user_id, stream_ordering FROM room_memberships WHERE membership = 'join';

-- One row per event that notifies at least one local member, or that a local member sent (their
-- latest such row marks the room read for them: spec "Marking notifications as read", by a receipt
-- or by sending an event). notify/highlight/actions are the outcome of every member in the audience
-- (joined before the event, not its sender) who has no row in push_notify_exceptions; thread_id is
-- the thread root's event ID, NULL for the main timeline. Written for nearly every message, so
-- without foreign keys (each would cost a look-up in the event's transaction).
CREATE TABLE push_notify_events (
  room_nid        INTEGER NOT NULL,
  stream_ordering INTEGER NOT NULL,
  event_nid       INTEGER NOT NULL,
  sender          TEXT NOT NULL,
  thread_id       TEXT,
  notify          INTEGER NOT NULL CHECK (notify IN (0, 1)),
  highlight       INTEGER NOT NULL CHECK (highlight IN (0, 1)),
  actions         TEXT NOT NULL,
  ts              INTEGER NOT NULL,
  PRIMARY KEY (room_nid, stream_ordering)
) WITHOUT ROWID;

-- Members whose outcome differs from the event's common one (mentions, their own rules, invites).
CREATE TABLE push_notify_exceptions (
  user_id         TEXT NOT NULL,
  room_nid        INTEGER NOT NULL,
  stream_ordering INTEGER NOT NULL,
  notify          INTEGER NOT NULL CHECK (notify IN (0, 1)),
  highlight       INTEGER NOT NULL CHECK (highlight IN (0, 1)),
  actions         TEXT NOT NULL,
  PRIMARY KEY (user_id, room_nid, stream_ordering)
) WITHOUT ROWID;
-- GET /notifications across rooms, newest first.
CREATE INDEX push_notify_exceptions_user_stream ON push_notify_exceptions (user_id, stream_ordering);

-- Pushers (POST /pushers/set), unique per (app_id, pushkey, user_id) as the spec and Synapse key them.
CREATE TABLE pushers (
  id                  INTEGER PRIMARY KEY,
  user_id             TEXT NOT NULL,
  app_id              TEXT NOT NULL,
  pushkey             TEXT NOT NULL,
  kind                TEXT NOT NULL,
  app_display_name    TEXT NOT NULL,
  device_display_name TEXT NOT NULL,
  profile_tag         TEXT,
  lang                TEXT NOT NULL,
  data                TEXT NOT NULL,
  -- When the pushkey was last set (milliseconds; sent to gateways in seconds).
  pushkey_ts          INTEGER NOT NULL,
  -- The device that created it: the pusher goes when the device is deleted.
  device_id           TEXT,
  UNIQUE (app_id, pushkey, user_id)
);
CREATE INDEX pushers_user ON pushers (user_id);

-- 0700_search.sql: the full-text index of room events for POST /search (src/search/event-index.ts).
-- Written inside each event's persist transaction by a derived writer; never by hand.

-- One row per searchable event, rowid = events.event_nid. The column holding the text names the
-- key it came from (content.body of m.room.message, content.name of m.room.name, content.topic of
-- m.room.topic), so `keys` becomes an FTS5 column filter. Contentless: the text lives in the event
-- JSON already; contentless_delete lets a redaction remove its target's row.
CREATE VIRTUAL TABLE event_search USING fts5(
  body, name, topic,
  content = '',
  contentless_delete = 1,
  tokenize = 'unicode61 remove_diacritics 2',
  prefix = '2 3'
);

-- Index the events stored before this migration (visible, non-outlier events with a string value).
INSERT INTO event_search (rowid, body)
  SELECT event_nid, json_extract(json, '$.content.body') FROM events
  WHERE type = 'm.room.message' AND stream_ordering IS NOT NULL AND rejected_reason IS NULL AND soft_failed = 0
    AND json_type(json, '$.content.body') = 'text';
INSERT INTO event_search (rowid, name)
  SELECT event_nid, json_extract(json, '$.content.name') FROM events
  WHERE type = 'm.room.name' AND state_key_nid IS NOT NULL AND stream_ordering IS NOT NULL AND rejected_reason IS NULL
    AND soft_failed = 0 AND json_type(json, '$.content.name') = 'text';
INSERT INTO event_search (rowid, topic)
  SELECT event_nid, json_extract(json, '$.content.topic') FROM events
  WHERE type = 'm.room.topic' AND state_key_nid IS NOT NULL AND stream_ordering IS NOT NULL AND rejected_reason IS NULL
    AND soft_failed = 0 AND json_type(json, '$.content.topic') = 'text';
-- Drop what was redacted by a visible redaction from a sender of the same server (the case that needs
-- no power-level lookup; the derived writer also honours redactions by sufficiently powerful users).
DELETE FROM event_search WHERE rowid IN (
  SELECT t.event_nid FROM events r JOIN events t ON t.event_nid = r.redacts_nid AND t.room_nid = r.room_nid
  WHERE r.redacts_nid IS NOT NULL AND r.stream_ordering IS NOT NULL AND r.rejected_reason IS NULL AND r.soft_failed = 0
    AND substr(r.sender, instr(r.sender, ':') + 1) = substr(t.sender, instr(t.sender, ':') + 1)
);

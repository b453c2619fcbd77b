-- Remote servers' signing keys (server-server API "Retrieving server keys"): every key response
-- kept as the origin signed it (served again when we act as a notary), and one row per key.
CREATE TABLE federation_key_responses (
  id INTEGER PRIMARY KEY,
  server_name TEXT NOT NULL,
  -- The response's own valid_until_ts, as signed.
  valid_until_ts INTEGER NOT NULL,
  fetched_ts INTEGER NOT NULL,
  -- The origin itself, or the notary it came through.
  from_server TEXT NOT NULL,
  -- The raw JSON (origin signature included; a notary's signature may be there too).
  json TEXT NOT NULL
);
CREATE INDEX federation_key_responses_server ON federation_key_responses (server_name, valid_until_ts);

CREATE TABLE federation_server_keys (
  server_name TEXT NOT NULL,
  key_id TEXT NOT NULL,
  -- Unpadded base64 ed25519 public key.
  public_key TEXT NOT NULL,
  -- verify_keys: the response's valid_until_ts; old_verify_keys: NULL.
  valid_until_ts INTEGER,
  -- old_verify_keys: when the key stopped being used; NULL for current keys.
  expired_ts INTEGER,
  fetched_ts INTEGER NOT NULL,
  -- The latest response listing this key.
  response_id INTEGER NOT NULL REFERENCES federation_key_responses (id),
  PRIMARY KEY (server_name, key_id)
) WITHOUT ROWID;
CREATE INDEX federation_server_keys_response ON federation_server_keys (response_id);

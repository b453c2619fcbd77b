// SQLite storage of remote servers' signing keys and the raw key responses they came in
// (tables of migrations/1000_federation_keys.sql).
import type { Database } from '../store/db.js';

export interface StoredServerKey {
  keyId: string;
  publicKey: string;
  /** For current keys: until when the key may be used (the response's valid_until_ts, capped). */
  validUntilTs: number | null;
  /** For old keys: when the key stopped being used. */
  expiredTs: number | null;
  fetchedTs: number;
}

export interface StoredKeyResponse {
  id: number;
  serverName: string;
  validUntilTs: number;
  fetchedTs: number;
  fromServer: string;
  json: string;
}

export interface KeyToStore {
  keyId: string;
  publicKey: string;
  validUntilTs: number | null;
  expiredTs: number | null;
}

export class KeyStore {
  private readonly selectKeys;
  private readonly insertResponse;
  private readonly upsertKey;
  private readonly pruneResponses;
  private readonly selectLatest;
  private readonly selectForKey;

  constructor(private readonly db: Database) {
    this.selectKeys = db.prepare<[string], { key_id: string; public_key: string; valid_until_ts: number | null; expired_ts: number | null; fetched_ts: number }>(
      'SELECT key_id, public_key, valid_until_ts, expired_ts, fetched_ts FROM federation_server_keys WHERE server_name = ?',
    );
    this.insertResponse = db.prepare(
      'INSERT INTO federation_key_responses (server_name, valid_until_ts, fetched_ts, from_server, json) VALUES (?, ?, ?, ?, ?)',
    );
    // A key listed again updates its row, except that a key already known as expired stays expired
    // even if a (replayed, older) response lists it as current, and a current key's validity only
    // grows.
    this.upsertKey = db.prepare(
      `INSERT INTO federation_server_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, fetched_ts, response_id)
       VALUES (@server, @keyId, @publicKey, @validUntil, @expired, @fetched, @responseId)
       ON CONFLICT (server_name, key_id) DO UPDATE SET
         public_key = excluded.public_key,
         valid_until_ts = CASE
           WHEN federation_server_keys.expired_ts IS NOT NULL AND excluded.expired_ts IS NULL THEN federation_server_keys.valid_until_ts
           WHEN excluded.expired_ts IS NULL THEN MAX(COALESCE(federation_server_keys.valid_until_ts, 0), excluded.valid_until_ts)
           ELSE excluded.valid_until_ts END,
         expired_ts = COALESCE(excluded.expired_ts, federation_server_keys.expired_ts),
         fetched_ts = excluded.fetched_ts,
         response_id = excluded.response_id`,
    );
    // Responses no key points at any more, other than the newest one, are of no further use.
    this.pruneResponses = db.prepare(
      `DELETE FROM federation_key_responses WHERE server_name = @server AND id != @keep
         AND id NOT IN (SELECT response_id FROM federation_server_keys WHERE server_name = @server)`,
    );
    this.selectLatest = db.prepare<[string], { id: number; server_name: string; valid_until_ts: number; fetched_ts: number; from_server: string; json: string }>(
      'SELECT * FROM federation_key_responses WHERE server_name = ? ORDER BY valid_until_ts DESC, id DESC LIMIT 1',
    );
    this.selectForKey = db.prepare<[string, string], { id: number; server_name: string; valid_until_ts: number; fetched_ts: number; from_server: string; json: string }>(
      `SELECT r.* FROM federation_server_keys k JOIN federation_key_responses r ON r.id = k.response_id
       WHERE k.server_name = ? AND k.key_id = ?`,
    );
  }

  keysOf(serverName: string): StoredServerKey[] {
    return this.selectKeys.all(serverName).map((r) => ({
      keyId: r.key_id,
      publicKey: r.public_key,
      validUntilTs: r.valid_until_ts,
      expiredTs: r.expired_ts,
      fetchedTs: r.fetched_ts,
    }));
  }

  /** Stores one verified response and its keys in one transaction. */
  storeResponse(serverName: string, fromServer: string, validUntilTs: number, fetchedTs: number, json: string, keys: readonly KeyToStore[]): void {
    this.db.transaction(() => {
      const responseId = Number(this.insertResponse.run(serverName, validUntilTs, fetchedTs, fromServer, json).lastInsertRowid);
      for (const k of keys) {
        this.upsertKey.run({ server: serverName, keyId: k.keyId, publicKey: k.publicKey, validUntil: k.validUntilTs, expired: k.expiredTs, fetched: fetchedTs, responseId });
      }
      this.pruneResponses.run({ server: serverName, keep: responseId });
    })();
  }

  /** The response with the latest valid_until_ts for a server. */
  latestResponse(serverName: string): StoredKeyResponse | undefined {
    const r = this.selectLatest.get(serverName);
    return r && { id: r.id, serverName: r.server_name, validUntilTs: r.valid_until_ts, fetchedTs: r.fetched_ts, fromServer: r.from_server, json: r.json };
  }

  /** The latest response that listed a key. */
  responseForKey(serverName: string, keyId: string): StoredKeyResponse | undefined {
    const r = this.selectForKey.get(serverName, keyId);
    return r && { id: r.id, serverName: r.server_name, validUntilTs: r.valid_until_ts, fetchedTs: r.fetched_ts, fromServer: r.from_server, json: r.json };
  }
}

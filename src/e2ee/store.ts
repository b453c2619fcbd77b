// SQLite repository for E2EE: device keys, one-time and fallback keys, cross-signing keys and
// signatures, the to-device inbox and dehydrated devices. Every change is one transaction behind
// one named function and records its device-list stream entry inside that transaction. Key
// objects are stored as the JSON text of what the client uploaded.
//
// Functions are async-shaped, except the few reads /sync makes through its synchronous source
// interfaces (src/sync/sources.ts), which are marked as such.
import { MatrixError } from '../errors.js';
import { canonicalJson } from '../core/json/canonical.js';
import type { JsonValue } from '../core/json/types.js';
import type { Database } from '../store/db.js';
import type { StreamCounters } from '../users/streams.js';
import type { DeviceListStream } from './device-lists.js';
import { sameOneTimeKey, type CrossSigningKeyType } from './validate.js';

/** The stream_counters name of the to-device stream. */
export const TO_DEVICE_STREAM = 'to_device';

export interface KeyToStore {
  algorithm: string;
  keyId: string;
  /** The key (string or key object) as uploaded. */
  key: JsonValue;
}

export interface KeyUpload {
  userId: string;
  deviceId: string;
  /** JSON text of the validated device_keys object, or undefined when none was uploaded. */
  deviceKeysJson?: string;
  oneTimeKeys: KeyToStore[];
  fallbackKeys: KeyToStore[];
  now: number;
}

export interface ClaimRequest {
  userId: string;
  deviceId: string;
  algorithm: string;
}

export interface ClaimedKey extends ClaimRequest {
  /** `<algorithm>:<key_id>` */
  name: string;
  keyJson: string;
}

export interface DeviceKeysRow {
  deviceId: string;
  keyJson: string;
  displayName: string | null;
}

export interface CrossSigningKeyRow {
  keyType: CrossSigningKeyType;
  publicKey: string;
  keyJson: string;
}

export interface SignatureRow {
  targetUserId: string;
  targetKeyId: string;
  signerUserId: string;
  signerKeyId: string;
  signature: string;
}

export interface ToDeviceDelivery {
  userId: string;
  /** A device ID, or `*` for every device of the user. */
  deviceId: string;
  messageJson: string;
}

export interface InboxMessage {
  streamId: number;
  messageJson: string;
}

export interface E2eeStore {
  /** Device keys, one-time keys and fallback keys of one upload, in one transaction. */
  uploadKeys(u: KeyUpload): Promise<{ deviceKeysChanged: boolean }>;
  getDeviceKeysJson(userId: string, deviceId: string): Promise<string | undefined>;
  /** Device keys of a user's devices (all when `deviceIds` is empty), with the device display names. */
  queryDeviceKeys(userId: string, deviceIds: readonly string[]): Promise<DeviceKeysRow[]>;
  /**
   * /keys/query in three reads whatever the number of users: the device keys (with display names),
   * the cross-signing keys, and the uploaded signatures on them made by their owner or by `viewer`.
   */
  queryUsers(userIds: readonly string[], viewer: string): Promise<{
    devices: (DeviceKeysRow & { userId: string })[];
    crossSigning: (CrossSigningKeyRow & { userId: string })[];
    signatures: SignatureRow[];
  }>;

  /** Sync (synchronous source read): unclaimed one-time keys per algorithm. */
  countOneTimeKeys(userId: string, deviceId: string): Record<string, number>;
  /** Sync (synchronous source read): algorithms of fallback keys not yet handed out. */
  unusedFallbackKeyTypes(userId: string, deviceId: string): string[];
  /**
   * /keys/claim: for each request, removes and returns the oldest one-time key of the algorithm, or
   * else returns the fallback key and marks it used; requests with neither are left out. One
   * transaction, one DELETE ... RETURNING per key: no key is ever returned twice.
   */
  claimKeys(requests: readonly ClaimRequest[]): Promise<ClaimedKey[]>;

  crossSigningKeys(userId: string): Promise<CrossSigningKeyRow[]>;
  /**
   * Stores cross-signing keys (replacing those of the same types) and drops the signatures made by
   * or on the keys they replace; records a device-list change (for user_signing alone, only the
   * user themself is told).
   */
  setCrossSigningKeys(userId: string, keys: readonly CrossSigningKeyRow[], now: number): Promise<void>;
  /** Stores signatures; `notify` lists the device-list changes to record in the same transaction. */
  storeSignatures(rows: readonly SignatureRow[], notify: { userIds: readonly string[]; viewerId?: string }[]): Promise<void>;

  /** Every device ID of a local user (for `*` and for cross-signing key collisions). */
  deviceIdsOf(userId: string): Promise<string[]>;
  /** Removes everything held for these devices (keys, inbox, signatures on them) and records the change. */
  removeDevices(userId: string, deviceIds: readonly string[]): Promise<void>;
  /** Records a device-list change that happened elsewhere (a new device, a renamed one, a remote update). */
  recordDeviceListChange(userIds: readonly string[]): Promise<number>;

  /**
   * /sendToDevice: unless (sender device, type, txnId) was seen, stores each message for each
   * addressed device that exists, at one new to-device position. Returns the recipients' user IDs
   * (empty for a repeated transaction).
   */
  sendToDevice(
    sender: { userId: string; deviceId: string },
    eventType: string,
    txnId: string,
    deliveries: readonly ToDeviceDelivery[],
    now: number,
  ): Promise<{ duplicate: boolean; recipients: string[] }>;
  /** Sync (synchronous source read): messages for a device in (since, upTo], oldest first, at most `limit` (+1 to tell if more). */
  inbox(userId: string, deviceId: string, since: number, upTo: number, limit: number): InboxMessage[];
  /** Sync (synchronous): deletes a device's messages up to `upTo` (acknowledged). */
  deleteInbox(userId: string, deviceId: string, upTo: number): void;
  toDevicePosition(): number;
  /** Forgets transaction IDs older than `before`. */
  pruneToDeviceTxns(before: number): Promise<void>;

  getDehydratedDevice(userId: string): Promise<{ deviceId: string; deviceData: string } | undefined>;
  /** Records the user's dehydrated device (replacing the previous record). */
  setDehydratedDevice(userId: string, deviceId: string, deviceData: string): Promise<void>;
}

export function createE2eeStore(db: Database, counters: StreamCounters, deviceLists: DeviceListStream): E2eeStore {
  const q = {
    getDeviceKeys: db.prepare<[string, string], string>('SELECT key_json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?').pluck(),
    putDeviceKeys: db.prepare<[string, string, string, number]>(
      `INSERT INTO e2e_device_keys (user_id, device_id, key_json, ts) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json, ts = excluded.ts`,
    ),
    allDeviceKeys: db.prepare<[string], { device_id: string; key_json: string; display_name: string | null }>(
      `SELECT k.device_id, k.key_json, d.display_name FROM e2e_device_keys k
         LEFT JOIN users u ON u.user_id = k.user_id
         LEFT JOIN devices d ON d.user_nid = u.id AND d.device_id = k.device_id
        WHERE k.user_id = ? ORDER BY k.device_id`,
    ),
    oneDeviceKeys: db.prepare<[string, string], { device_id: string; key_json: string; display_name: string | null }>(
      `SELECT k.device_id, k.key_json, d.display_name FROM e2e_device_keys k
         LEFT JOIN users u ON u.user_id = k.user_id
         LEFT JOIN devices d ON d.user_nid = u.id AND d.device_id = k.device_id
        WHERE k.user_id = ? AND k.device_id = ?`,
    ),
    otksOf: db.prepare<[string, string, string], { key_id: string; key_json: string }>(
      'SELECT key_id, key_json FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ?',
    ),
    lastOtkSeq: db.prepare<[string, string, string], number | null>(
      'SELECT MAX(seq) FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ?',
    ).pluck(),
    insOtk: db.prepare<[string, string, string, number, string, string, number]>(
      'INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, seq, key_id, key_json, ts) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    countOtks: db.prepare<[string, string], { algorithm: string; n: number }>(
      'SELECT algorithm, COUNT(*) AS n FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm',
    ),
    claimOtk: db.prepare<[string, string, string], { key_id: string; key_json: string }>(
      `DELETE FROM e2e_one_time_keys WHERE (user_id, device_id, algorithm, seq) = (
         SELECT user_id, device_id, algorithm, seq FROM e2e_one_time_keys
          WHERE user_id = ? AND device_id = ? AND algorithm = ? ORDER BY seq LIMIT 1)
       RETURNING key_id, key_json`,
    ),
    getFallback: db.prepare<[string, string, string], { key_id: string; key_json: string }>(
      'SELECT key_id, key_json FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND algorithm = ?',
    ),
    putFallback: db.prepare<[string, string, string, string, string]>(
      `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES (?, ?, ?, ?, ?, 0)
       ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = excluded.key_id, key_json = excluded.key_json, used = 0`,
    ),
    useFallback: db.prepare<[string, string, string], { key_id: string; key_json: string }>(
      'UPDATE e2e_fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ? AND algorithm = ? RETURNING key_id, key_json',
    ),
    unusedFallbacks: db.prepare<[string, string], string>(
      'SELECT algorithm FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND used = 0 ORDER BY algorithm',
    ).pluck(),

    crossSigning: db.prepare<[string], { key_type: CrossSigningKeyType; public_key: string; key_json: string }>(
      'SELECT key_type, public_key, key_json FROM e2e_cross_signing_keys WHERE user_id = ?',
    ),
    putCrossSigning: db.prepare<[string, string, string, string, number]>(
      `INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json, ts) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, key_type) DO UPDATE SET public_key = excluded.public_key, key_json = excluded.key_json, ts = excluded.ts`,
    ),
    delSignaturesBy: db.prepare<[string, string]>('DELETE FROM e2e_cross_signing_signatures WHERE signer_user_id = ? AND signer_key_id = ?'),
    delSignaturesOn: db.prepare<[string, string]>('DELETE FROM e2e_cross_signing_signatures WHERE target_user_id = ? AND target_key_id = ?'),
    putSignature: db.prepare<[string, string, string, string, string]>(
      `INSERT INTO e2e_cross_signing_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, signature)
       VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET signature = excluded.signature`,
    ),
    // Bulk reads for /keys/query: the users come as one JSON array parameter.
    devicesOfUsers: db.prepare<[string], { user_id: string; device_id: string; key_json: string; display_name: string | null }>(
      `SELECT k.user_id, k.device_id, k.key_json, d.display_name FROM e2e_device_keys k
         LEFT JOIN users u ON u.user_id = k.user_id
         LEFT JOIN devices d ON d.user_nid = u.id AND d.device_id = k.device_id
        WHERE k.user_id IN (SELECT value FROM json_each(?)) ORDER BY k.user_id, k.device_id`,
    ),
    crossSigningOfUsers: db.prepare<[string], { user_id: string; key_type: CrossSigningKeyType; public_key: string; key_json: string }>(
      'SELECT user_id, key_type, public_key, key_json FROM e2e_cross_signing_keys WHERE user_id IN (SELECT value FROM json_each(?))',
    ),
    signaturesOnUsers: db.prepare<[string, string], { target_user_id: string; target_key_id: string; signer_user_id: string; signer_key_id: string; signature: string }>(
      `SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature FROM e2e_cross_signing_signatures
        WHERE target_user_id IN (SELECT value FROM json_each(?)) AND (signer_user_id = target_user_id OR signer_user_id = ?)`,
    ),

    deviceIds: db.prepare<[string], string>(
      'SELECT d.device_id FROM devices d JOIN users u ON u.id = d.user_nid WHERE u.user_id = ? ORDER BY d.device_id',
    ).pluck(),
    deviceExists: db.prepare<[string, string], number>(
      'SELECT 1 FROM devices d JOIN users u ON u.id = d.user_nid WHERE u.user_id = ? AND d.device_id = ?',
    ).pluck(),
    delDeviceKeys: db.prepare<[string, string]>('DELETE FROM e2e_device_keys WHERE user_id = ? AND device_id = ?'),
    delOtks: db.prepare<[string, string]>('DELETE FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ?'),
    delFallbacks: db.prepare<[string, string]>('DELETE FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ?'),
    delInboxAll: db.prepare<[string, string]>('DELETE FROM e2e_device_inbox WHERE user_id = ? AND device_id = ?'),
    delDehydratedIf: db.prepare<[string, string]>('DELETE FROM e2e_dehydrated_devices WHERE user_id = ? AND device_id = ?'),

    insTxn: db.prepare<[string, string, string, string, number]>(
      'INSERT INTO e2e_to_device_txns (user_id, device_id, event_type, txn_id, ts) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    pruneTxns: db.prepare<[number]>('DELETE FROM e2e_to_device_txns WHERE ts < ?'),
    insInbox: db.prepare<[string, string, number, string]>(
      'INSERT INTO e2e_device_inbox (user_id, device_id, stream_id, message_json) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    inbox: db.prepare<[string, string, number, number, number], { stream_id: number; message_json: string }>(
      `SELECT stream_id, message_json FROM e2e_device_inbox
        WHERE user_id = ? AND device_id = ? AND stream_id > ? AND stream_id <= ? ORDER BY stream_id LIMIT ?`,
    ),
    delInbox: db.prepare<[string, string, number]>('DELETE FROM e2e_device_inbox WHERE user_id = ? AND device_id = ? AND stream_id <= ?'),

    getDehydrated: db.prepare<[string], { device_id: string; device_data: string }>(
      'SELECT device_id, device_data FROM e2e_dehydrated_devices WHERE user_id = ?',
    ),
    putDehydrated: db.prepare<[string, string, string]>(
      `INSERT INTO e2e_dehydrated_devices (user_id, device_id, device_data) VALUES (?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET device_id = excluded.device_id, device_data = excluded.device_data`,
    ),
  };

  const uploadKeysTxn = db.transaction((u: KeyUpload): { deviceKeysChanged: boolean } => {
    let deviceKeysChanged = false;
    if (u.deviceKeysJson !== undefined) {
      const old = q.getDeviceKeys.get(u.userId, u.deviceId);
      // Same keys uploaded again (e.g. a retried request): nothing changed, nobody is told.
      deviceKeysChanged = old === undefined || canonicalJson(JSON.parse(old)) !== canonicalJson(JSON.parse(u.deviceKeysJson));
      if (deviceKeysChanged) q.putDeviceKeys.run(u.userId, u.deviceId, u.deviceKeysJson, u.now);
    }
    // Per algorithm: the device's stored key IDs (one range read), then the new keys in order.
    const byAlgorithm = new Map<string, KeyToStore[]>();
    for (const k of u.oneTimeKeys) (byAlgorithm.get(k.algorithm) ?? byAlgorithm.set(k.algorithm, []).get(k.algorithm)!).push(k);
    for (const [algorithm, keys] of byAlgorithm) {
      const stored = new Map(q.otksOf.all(u.userId, u.deviceId, algorithm).map((r) => [r.key_id, r.key_json]));
      let seq = q.lastOtkSeq.get(u.userId, u.deviceId, algorithm) ?? 0;
      for (const k of keys) {
        const old = stored.get(k.keyId);
        if (old !== undefined) {
          // A retried upload may repeat a key; a different key under the same ID is an error (Synapse).
          if (!sameOneTimeKey(JSON.parse(old) as JsonValue, k.key)) {
            throw new MatrixError('M_UNKNOWN', `One time key ${k.algorithm}:${k.keyId} already exists with different content`);
          }
          continue;
        }
        const json = JSON.stringify(k.key);
        q.insOtk.run(u.userId, u.deviceId, algorithm, ++seq, k.keyId, json, u.now);
        stored.set(k.keyId, json);
      }
    }
    for (const k of u.fallbackKeys) {
      const json = JSON.stringify(k.key);
      const old = q.getFallback.get(u.userId, u.deviceId, k.algorithm);
      // The same fallback key again keeps its `used` flag, so a used key is not advertised as unused.
      if (old && old.key_id === k.keyId && canonicalJson(JSON.parse(old.key_json)) === canonicalJson(k.key)) continue;
      q.putFallback.run(u.userId, u.deviceId, k.algorithm, k.keyId, json);
    }
    if (deviceKeysChanged) deviceLists.recordChange([u.userId]);
    return { deviceKeysChanged };
  });

  const claimTxn = db.transaction((requests: readonly ClaimRequest[]): ClaimedKey[] => {
    const out: ClaimedKey[] = [];
    for (const r of requests) {
      const otk = q.claimOtk.get(r.userId, r.deviceId, r.algorithm);
      if (otk) {
        out.push({ ...r, name: `${r.algorithm}:${otk.key_id}`, keyJson: otk.key_json });
        continue;
      }
      const fallback = q.useFallback.get(r.userId, r.deviceId, r.algorithm);
      if (fallback) out.push({ ...r, name: `${r.algorithm}:${fallback.key_id}`, keyJson: fallback.key_json });
    }
    return out;
  });

  const setCrossSigningTxn = db.transaction((userId: string, keys: readonly CrossSigningKeyRow[], now: number) => {
    const existing = new Map(q.crossSigning.all(userId).map((r) => [r.key_type, r.public_key]));
    let everyone = false;
    for (const k of keys) {
      const old = existing.get(k.keyType);
      if (old !== undefined && old !== k.publicKey) {
        // Signatures by the replaced key, and on it, no longer mean anything.
        q.delSignaturesBy.run(userId, `ed25519:${old}`);
        q.delSignaturesOn.run(userId, old);
      }
      q.putCrossSigning.run(userId, k.keyType, k.publicKey, k.keyJson, now);
      if (k.keyType !== 'user_signing') everyone = true;
    }
    // Master and self-signing keys are public: everyone sharing a room re-queries. The
    // user-signing key is only shown to its owner (spec "Cross-signing"), so only they are told.
    if (everyone) deviceLists.recordChange([userId]);
    else if (keys.length > 0) deviceLists.recordChange([userId], userId);
  });

  const storeSignaturesTxn = db.transaction((rows: readonly SignatureRow[], notify: { userIds: readonly string[]; viewerId?: string }[]) => {
    for (const r of rows) q.putSignature.run(r.targetUserId, r.targetKeyId, r.signerUserId, r.signerKeyId, r.signature);
    for (const n of notify) if (n.userIds.length > 0) deviceLists.recordChange(n.userIds, n.viewerId);
  });

  const removeDevicesTxn = db.transaction((userId: string, deviceIds: readonly string[]) => {
    for (const d of deviceIds) {
      q.delDeviceKeys.run(userId, d);
      q.delOtks.run(userId, d);
      q.delFallbacks.run(userId, d);
      q.delInboxAll.run(userId, d);
      q.delSignaturesOn.run(userId, d);
      q.delDehydratedIf.run(userId, d);
    }
    if (deviceIds.length > 0) deviceLists.recordChange([userId]);
  });

  const sendToDeviceTxn = db.transaction(
    (sender: { userId: string; deviceId: string }, eventType: string, txnId: string, deliveries: readonly ToDeviceDelivery[], now: number) => {
      if (q.insTxn.run(sender.userId, sender.deviceId, eventType, txnId, now).changes === 0) return { duplicate: true, recipients: [] };
      let pos: number | undefined;
      const recipients = new Set<string>();
      // Explicitly addressed devices take precedence over `*` for the same user.
      const explicit = new Set<string>();
      for (const d of deliveries) if (d.deviceId !== '*') explicit.add(`${d.userId}\u0000${d.deviceId}`);
      for (const d of deliveries) {
        const targets =
          d.deviceId === '*'
            ? q.deviceIds.all(d.userId).filter((id) => !explicit.has(`${d.userId}\u0000${id}`))
            : q.deviceExists.get(d.userId, d.deviceId) !== undefined
              ? [d.deviceId]
              : [];
        for (const deviceId of targets) {
          pos ??= counters.next(TO_DEVICE_STREAM);
          q.insInbox.run(d.userId, deviceId, pos, d.messageJson);
          recipients.add(d.userId);
        }
      }
      return { duplicate: false, recipients: [...recipients] };
    },
  );

  return {
    async uploadKeys(u) {
      return uploadKeysTxn.immediate(u);
    },
    async getDeviceKeysJson(userId, deviceId) {
      return q.getDeviceKeys.get(userId, deviceId);
    },
    async queryDeviceKeys(userId, deviceIds) {
      const rows =
        deviceIds.length === 0
          ? q.allDeviceKeys.all(userId)
          : [...new Set(deviceIds)].flatMap((d) => {
              const r = q.oneDeviceKeys.get(userId, d);
              return r ? [r] : [];
            });
      return rows.map((r) => ({ deviceId: r.device_id, keyJson: r.key_json, displayName: r.display_name }));
    },
    async queryUsers(userIds, viewer) {
      const ids = JSON.stringify([...new Set(userIds)]);
      return {
        devices: q.devicesOfUsers.all(ids).map((r) => ({ userId: r.user_id, deviceId: r.device_id, keyJson: r.key_json, displayName: r.display_name })),
        crossSigning: q.crossSigningOfUsers.all(ids).map((r) => ({ userId: r.user_id, keyType: r.key_type, publicKey: r.public_key, keyJson: r.key_json })),
        signatures: q.signaturesOnUsers.all(ids, viewer).map((r) => ({
          targetUserId: r.target_user_id,
          targetKeyId: r.target_key_id,
          signerUserId: r.signer_user_id,
          signerKeyId: r.signer_key_id,
          signature: r.signature,
        })),
      };
    },

    countOneTimeKeys(userId, deviceId) {
      // Synapse always reports signed_curve25519, even at zero: older clients rely on it.
      const counts: Record<string, number> = { signed_curve25519: 0 };
      for (const r of q.countOtks.all(userId, deviceId)) counts[r.algorithm] = r.n;
      return counts;
    },
    unusedFallbackKeyTypes(userId, deviceId) {
      return q.unusedFallbacks.all(userId, deviceId);
    },
    async claimKeys(requests) {
      return claimTxn.immediate(requests);
    },

    async crossSigningKeys(userId) {
      return q.crossSigning.all(userId).map((r) => ({ keyType: r.key_type, publicKey: r.public_key, keyJson: r.key_json }));
    },
    async setCrossSigningKeys(userId, keys, now) {
      setCrossSigningTxn.immediate(userId, keys, now);
    },
    async storeSignatures(rows, notify) {
      storeSignaturesTxn.immediate(rows, notify);
    },

    async deviceIdsOf(userId) {
      return q.deviceIds.all(userId);
    },
    async removeDevices(userId, deviceIds) {
      removeDevicesTxn.immediate(userId, deviceIds);
    },
    async recordDeviceListChange(userIds) {
      return db.transaction(() => deviceLists.recordChange(userIds)).immediate();
    },

    async sendToDevice(sender, eventType, txnId, deliveries, now) {
      return sendToDeviceTxn.immediate(sender, eventType, txnId, deliveries, now);
    },
    inbox(userId, deviceId, since, upTo, limit) {
      return q.inbox.all(userId, deviceId, since, upTo, limit).map((r) => ({ streamId: r.stream_id, messageJson: r.message_json }));
    },
    deleteInbox(userId, deviceId, upTo) {
      q.delInbox.run(userId, deviceId, upTo);
    },
    toDevicePosition() {
      return counters.current(TO_DEVICE_STREAM);
    },
    async pruneToDeviceTxns(before) {
      q.pruneTxns.run(before);
    },

    async getDehydratedDevice(userId) {
      const r = q.getDehydrated.get(userId);
      return r ? { deviceId: r.device_id, deviceData: r.device_data } : undefined;
    },
    async setDehydratedDevice(userId, deviceId, deviceData) {
      q.putDehydrated.run(userId, deviceId, deviceData);
    },
  };
}

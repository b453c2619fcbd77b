// The E2EE service (spec client-server "End-to-End Encryption" and "Send-to-Device messaging"):
// device, one-time and fallback keys; key queries and claims; cross-signing keys and signatures;
// to-device messages; the device-list stream; key backup (backup.ts) and dehydrated devices
// (MSC3814). It stores and routes keys and ciphertext and never sees plaintext. It also implements
// the /sync sources ToDeviceSource and DeviceKeysSource.
import { randomBytes } from 'node:crypto';
import { MatrixError } from '../errors.js';
import { canonicalJson } from '../core/json/canonical.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../core/json/types.js';
import { verifyJsonSignature } from '../core/crypto/signing.js';
import { parseUserId } from '../core/ids.js';
import type { Database } from '../store/db.js';
import type { Store } from '../store/index.js';
import type { Notifier } from '../sync/notifier.js';
import type { DeviceKeysSource, ToDeviceSource } from '../sync/sources.js';
import { parseSyncToken } from '../sync/token.js';
import { createStreamCounters } from '../users/streams.js';
import type { Requester, UiaResult, UsersService } from '../users/service.js';
import { createBackupStore } from './backup-store.js';
import { createKeyBackupService, type KeyBackupService } from './backup.js';
import { createDeviceListStream, type DeviceListStream } from './device-lists.js';
import { createE2eeStore, type CrossSigningKeyRow, type E2eeStore, type SignatureRow, type ToDeviceDelivery } from './store.js';
import {
  checkCrossSigningKey,
  checkDeviceKeys,
  crossSigningKeyInfo,
  deviceEd25519Key,
  parseKeyMap,
  signedContent,
  type CrossSigningKeyInfo,
  type CrossSigningKeyType,
} from './validate.js';

/**
 * What federation will plug in (not wired yet). Without it, remote users in /keys/query and
 * /keys/claim are reported under `failures` and to-device messages for remote users are dropped.
 */
export interface E2eeFederation {
  /** POST /_matrix/federation/v1/user/keys/query to `server`; resolves with its answer. */
  queryKeys?(server: string, deviceKeys: Record<string, string[]>, timeoutMs: number): Promise<JsonObject>;
  /** POST /_matrix/federation/v1/user/keys/claim to `server`; resolves with its answer. */
  claimKeys?(server: string, oneTimeKeys: Record<string, Record<string, string>>, timeoutMs: number): Promise<JsonObject>;
  /** Queues an m.direct_to_device EDU for `server`. */
  sendToDevice?(server: string, edu: { sender: string; type: string; message_id: string; messages: JsonObject }): void;
  /** A local user's devices or public keys changed: queue m.device_list_update / m.signing_key_update. */
  localDeviceListChanged?(userId: string): void;
}

export interface E2eeLogger {
  warn(obj: object, msg?: string): void;
}

export interface E2eeServiceDeps {
  db: Database;
  /** The room store of the same database: joins and leaves are recorded inside its event transactions. */
  store: Store;
  users: UsersService;
  serverName: string;
  notifier?: Notifier;
  clock?: () => number;
  logger?: E2eeLogger;
  federation?: E2eeFederation;
}

/** Response of /keys/claim and /keys/query failures: `{status, errcode, error}` per server. */
type Failures = Record<string, JsonObject>;

export interface E2eeService {
  readonly toDevice: ToDeviceSource;
  readonly deviceKeys: DeviceKeysSource;
  readonly backup: KeyBackupService;
  readonly deviceLists: DeviceListStream;
  readonly keyStore: E2eeStore;

  /** POST /keys/upload */
  uploadKeys(requester: Requester, body: unknown): Promise<{ one_time_key_counts: Record<string, number> }>;
  /** POST /keys/query */
  queryKeys(requester: Requester, body: unknown): Promise<JsonObject>;
  /** POST /keys/claim */
  claimKeys(requester: Requester, body: unknown): Promise<JsonObject>;
  /** GET /keys/changes?from&to */
  keyChanges(requester: Requester, from: string | undefined, to: string | undefined): Promise<{ changed: string[]; left: string[] }>;
  /** POST /keys/device_signing/upload (UIA unless nothing is replaced, spec v1.11 / MSC3967). */
  uploadCrossSigningKeys(requester: Requester, body: unknown, operation: string): Promise<UiaResult<Record<string, never>>>;
  /** POST /keys/signatures/upload */
  uploadSignatures(requester: Requester, body: unknown): Promise<{ failures: Record<string, Record<string, JsonObject>> }>;
  /** PUT /sendToDevice/{eventType}/{txnId} */
  sendToDevice(requester: Requester, eventType: string, txnId: string, body: unknown): Promise<Record<string, never>>;

  /** GET .../org.matrix.msc3814.v1/dehydrated_device */
  getDehydratedDevice(requester: Requester): Promise<JsonObject>;
  /** PUT .../org.matrix.msc3814.v1/dehydrated_device */
  putDehydratedDevice(requester: Requester, body: unknown): Promise<{ device_id: string }>;
  /** DELETE .../org.matrix.msc3814.v1/dehydrated_device */
  deleteDehydratedDevice(requester: Requester): Promise<{ device_id: string }>;
  /** GET|POST .../org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events */
  dehydratedDeviceEvents(requester: Requester, deviceId: string, from: string | undefined, limit: number): Promise<JsonObject>;

  /**
   * Federation hook for inbound m.device_list_update / m.signing_key_update: records that these
   * (remote) users' devices or keys changed and wakes the local users sharing a room with them.
   */
  remoteDeviceListChanged(userIds: readonly string[]): Promise<void>;

  /**
   * Federation hook for an inbound m.direct_to_device EDU (its sender already checked against the
   * transaction's origin): stores each message for the addressed local devices (`*`: all of them),
   * once per (sender, message_id), and wakes the recipients. Returns how many users received some.
   */
  applyRemoteToDevice(edu: { sender: string; type: string; messageId: string; messages: JsonObject }): Promise<number>;

  /** Removes the listeners registered on the users service. */
  close(): void;
}

/** Synapse's MAX_TO_DEVICE_CONTENT_SIZE (the soft EDU size): one message must fit an EDU. */
export const MAX_TO_DEVICE_MESSAGE_BYTES = 65_536;
const TXN_RETENTION_MS = 24 * 60 * 60 * 1000;
const TXN_PRUNE_INTERVAL_MS = 60 * 1000;
const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

const CROSS_SIGNING_FIELDS: readonly (readonly [field: string, type: CrossSigningKeyType])[] = [
  ['master_key', 'master'],
  ['self_signing_key', 'self_signing'],
  ['user_signing_key', 'user_signing'],
];

function bodyObject(body: unknown): JsonObject {
  if (body === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
  if (!isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object.');
  return body;
}

function parseObject(json: string): JsonObject {
  return JSON.parse(json) as JsonObject;
}

function failureOf(e: MatrixError): JsonObject {
  return { status: e.status, errcode: e.errcode, error: e.message };
}

function timeoutOf(body: JsonObject): number {
  const t = body.timeout;
  return typeof t === 'number' && Number.isFinite(t) && t >= 0 ? Math.min(t, 60_000) : DEFAULT_QUERY_TIMEOUT_MS;
}

/** Adds `signatures[signer][keyId] = signature` for each row, keeping what is there. */
function mergeSignatures(obj: JsonObject, rows: readonly Pick<SignatureRow, 'signerUserId' | 'signerKeyId' | 'signature'>[]): void {
  if (rows.length === 0) return;
  const sigs: JsonObject = isJsonObject(obj.signatures) ? { ...obj.signatures } : {};
  for (const r of rows) {
    const forSigner = sigs[r.signerUserId];
    sigs[r.signerUserId] = { ...(isJsonObject(forSigner) ? forSigner : {}), [r.signerKeyId]: r.signature };
  }
  obj.signatures = sigs;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function createE2eeService(deps: E2eeServiceDeps): E2eeService {
  const { db, users, serverName, notifier } = deps;
  const clock = deps.clock ?? Date.now;
  const counters = createStreamCounters(db);
  const deviceLists = createDeviceListStream(db, counters);
  const store = createE2eeStore(db, counters, deviceLists);
  const backup = createKeyBackupService(createBackupStore(db));
  deps.store.core.addDerivedWriter(deviceLists.memberships);

  const isLocal = (userId: string) => parseUserId(userId)?.serverName === serverName;
  const serverOf = (userId: string) => parseUserId(userId)?.serverName;

  /** Wakes the syncs of everyone who must hear that `userId`'s devices or public keys changed. */
  function announceDeviceListChange(userId: string): void {
    const local = deviceLists.usersSharingRoomWith(userId).filter(isLocal);
    if (!local.includes(userId)) local.push(userId);
    notifier?.wakeUsers(local);
    if (isLocal(userId)) deps.federation?.localDeviceListChanged?.(userId);
  }

  // ---- users hooks: device lifecycle -------------------------------------------------------------
  const onDevicesRemoved = async (userId: string, deviceIds: string[]) => {
    await store.removeDevices(userId, deviceIds);
    announceDeviceListChange(userId);
  };
  const onDevicesChanged = async (userId: string, _deviceIds: string[]) => {
    await store.recordDeviceListChange([userId]);
    announceDeviceListChange(userId);
  };
  const onDeactivated = async (userId: string) => {
    await backup.deleteAllForUser(userId);
  };
  users.hooks.devicesRemoved.push(onDevicesRemoved);
  users.hooks.devicesChanged.push(onDevicesChanged);
  users.hooks.userDeactivated.push(onDeactivated);

  let lastTxnPrune = 0;

  // ---- key upload (shared by /keys/upload and dehydrated devices) -------------------------------
  async function storeKeys(userId: string, deviceId: string, body: JsonObject): Promise<void> {
    let deviceKeysJson: string | undefined;
    if (body.device_keys !== undefined) {
      // Synapse: "device_keys may be omitted, but when present it must be a DeviceKeys object".
      deviceKeysJson = JSON.stringify(checkDeviceKeys(body.device_keys, userId, deviceId));
    }
    const oneTimeKeys = parseKeyMap(body.one_time_keys, 'one_time_keys');
    const fallbackKeys = parseKeyMap(body.fallback_keys, 'fallback_keys');
    const { deviceKeysChanged } = await store.uploadKeys({
      userId,
      deviceId,
      ...(deviceKeysJson !== undefined ? { deviceKeysJson } : {}),
      oneTimeKeys,
      fallbackKeys,
      now: clock(),
    });
    if (deviceKeysChanged) announceDeviceListChange(userId);
  }

  // ---- /keys/query ---------------------------------------------------------------------------------
  /**
   * Device and cross-signing keys of local users, as `requester` may see them, read in three
   * queries for all users together. `deviceFilter`: the devices asked for per user (empty: all).
   */
  async function localKeys(requester: Requester, deviceFilter: ReadonlyMap<string, readonly string[]>, result: Record<string, JsonObject>): Promise<void> {
    const userIds = [...deviceFilter.keys()];
    const deviceKeysOut = result.device_keys!;
    // Every queried local user is listed, with no devices when unknown (as Synapse answers).
    for (const u of userIds) deviceKeysOut[u] = {};
    if (userIds.length === 0) return;
    const { devices, crossSigning, signatures } = await store.queryUsers(userIds, requester.userId);
    // Uploaded signatures by target key: devices signed by their owner's self-signing key, master
    // keys signed by their owner's devices or by the requester's user-signing key.
    const sigsByKey = new Map<string, SignatureRow[]>();
    for (const sig of signatures) {
      const k = `${sig.targetUserId}\u0000${sig.targetKeyId}`;
      const list = sigsByKey.get(k);
      if (list) list.push(sig);
      else sigsByKey.set(k, [sig]);
    }
    const wanted = new Map([...deviceFilter].filter(([, ids]) => ids.length > 0).map(([u, ids]) => [u, new Set(ids)]));
    for (const r of devices) {
      if (wanted.get(r.userId)?.has(r.deviceId) === false) continue;
      const keys = parseObject(r.keyJson);
      // Only the owner's signatures on a device (by their self-signing key).
      mergeSignatures(keys, (sigsByKey.get(`${r.userId}\u0000${r.deviceId}`) ?? []).filter((s) => s.signerUserId === r.userId));
      // `unsigned` is added by the server and not covered by signatures (as Synapse fills it).
      keys.unsigned = r.displayName !== null ? { device_display_name: r.displayName } : {};
      (deviceKeysOut[r.userId] as JsonObject)[r.deviceId] = keys;
    }
    for (const k of crossSigning) {
      // Spec "Cross-signing": users never see other users' user-signing keys, nor signatures made with them.
      if (k.keyType === 'user_signing' && k.userId !== requester.userId) continue;
      const obj = parseObject(k.keyJson);
      mergeSignatures(obj, sigsByKey.get(`${k.userId}\u0000${k.publicKey}`) ?? []);
      (result[`${k.keyType}_keys`] ??= {})[k.userId] = obj;
    }
  }

  // ---- cross-signing --------------------------------------------------------------------------------
  async function currentCrossSigning(userId: string): Promise<Map<CrossSigningKeyType, CrossSigningKeyRow & { obj: JsonObject; info: CrossSigningKeyInfo }>> {
    const out = new Map<CrossSigningKeyType, CrossSigningKeyRow & { obj: JsonObject; info: CrossSigningKeyInfo }>();
    for (const k of await store.crossSigningKeys(userId)) {
      const obj = parseObject(k.keyJson);
      out.set(k.keyType, { ...k, obj, info: { keyId: `ed25519:${k.publicKey}`, publicKey: k.publicKey } });
    }
    return out;
  }

  /** Synapse's check before storing a signature: the signed object is the stored one, signatures aside. */
  function checkSameKey(signed: JsonObject, stored: JsonObject): void {
    let same = false;
    try {
      same = signedContent(signed) === signedContent(stored);
    } catch {
      same = false;
    }
    if (!same) throw new MatrixError('M_UNKNOWN', 'Key does not match');
  }

  const invalidSignature = () => new MatrixError('M_INVALID_SIGNATURE', 'Invalid signature');

  // ---- sync sources ------------------------------------------------------------------------------
  const toDevice: ToDeviceSource = {
    position: () => store.toDevicePosition(),
    messagesFor(userId, deviceId, since, upTo, limit) {
      if (upTo <= since) return { events: [], nextPosition: upTo };
      if (limit <= 0) return { events: [], nextPosition: since };
      const rows = store.inbox(userId, deviceId, since, upTo, limit + 1);
      const more = rows.length > limit;
      const batch = more ? rows.slice(0, limit) : rows;
      return {
        events: batch.map((r) => parseObject(r.messageJson)),
        nextPosition: more ? batch[batch.length - 1]!.streamId : upTo,
      };
    },
    acknowledge(userId, deviceId, upTo) {
      if (upTo > 0) store.deleteInbox(userId, deviceId, upTo);
    },
  };

  const deviceKeys: DeviceKeysSource = {
    position: () => deviceLists.position(),
    deviceListChanges: (userId, since, upTo) => deviceLists.changesFor(userId, since, upTo),
    oneTimeKeyCounts: (userId, deviceId) => store.countOneTimeKeys(userId, deviceId),
    unusedFallbackKeyTypes: (userId, deviceId) => store.unusedFallbackKeyTypes(userId, deviceId),
  };

  return {
    toDevice,
    deviceKeys,
    backup,
    deviceLists,
    keyStore: store,

    async uploadKeys(requester, rawBody) {
      const body = bodyObject(rawBody);
      await storeKeys(requester.userId, requester.deviceId, body);
      return { one_time_key_counts: store.countOneTimeKeys(requester.userId, requester.deviceId) };
    },

    async queryKeys(requester, rawBody) {
      const body = bodyObject(rawBody);
      const query = body.device_keys;
      if (query === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "device_keys"');
      if (!isJsonObject(query)) throw new MatrixError('M_INVALID_PARAM', '"device_keys" must be an object');
      const local: [string, string[]][] = [];
      const remote = new Map<string, Record<string, string[]>>();
      for (const [userId, devices] of Object.entries(query)) {
        if (!Array.isArray(devices) || !devices.every((d): d is string => typeof d === 'string')) {
          throw new MatrixError('M_INVALID_PARAM', `"device_keys.${userId}" must be a list of device IDs`);
        }
        const server = serverOf(userId);
        if (server === undefined) throw new MatrixError('M_INVALID_PARAM', `Invalid user ID ${JSON.stringify(userId)}`);
        if (server === serverName) local.push([userId, devices]);
        else (remote.get(server) ?? remote.set(server, {}).get(server)!)[userId] = devices;
      }
      const result: Record<string, JsonObject> = { device_keys: {}, failures: {} };
      await localKeys(requester, new Map(local), result);
      await queryRemote(remote, timeoutOf(body), result);
      return result;
    },

    async claimKeys(_requester, rawBody) {
      const body = bodyObject(rawBody);
      const query = body.one_time_keys;
      if (query === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "one_time_keys"');
      if (!isJsonObject(query)) throw new MatrixError('M_INVALID_PARAM', '"one_time_keys" must be an object');
      const requests: { userId: string; deviceId: string; algorithm: string }[] = [];
      const remote = new Map<string, Record<string, Record<string, string>>>();
      for (const [userId, devices] of Object.entries(query)) {
        if (!isJsonObject(devices) || !Object.values(devices).every((a) => typeof a === 'string')) {
          throw new MatrixError('M_INVALID_PARAM', `"one_time_keys.${userId}" must map device IDs to algorithms`);
        }
        const server = serverOf(userId);
        if (server === undefined) throw new MatrixError('M_INVALID_PARAM', `Invalid user ID ${JSON.stringify(userId)}`);
        if (server !== serverName) {
          (remote.get(server) ?? remote.set(server, {}).get(server)!)[userId] = devices as Record<string, string>;
          continue;
        }
        for (const [deviceId, algorithm] of Object.entries(devices)) requests.push({ userId, deviceId, algorithm: algorithm as string });
      }
      const oneTimeKeys: Record<string, Record<string, JsonObject>> = {};
      // Unknown users and devices, and devices without keys, are simply absent (spec).
      for (const k of await store.claimKeys(requests)) {
        ((oneTimeKeys[k.userId] ??= {})[k.deviceId] ??= {})[k.name] = JSON.parse(k.keyJson) as JsonValue;
      }
      const failures: Failures = {};
      const timeout = timeoutOf(body);
      await Promise.all(
        [...remote].map(async ([server, q]) => {
          const claim = deps.federation?.claimKeys;
          if (!claim) {
            failures[server] = { status: 503, message: 'Federation is not available' };
            return;
          }
          try {
            const answer = await withTimeout(claim(server, q, timeout), timeout);
            const keys = answer.one_time_keys;
            if (isJsonObject(keys)) for (const [u, d] of Object.entries(keys)) if (u in q && isJsonObject(d)) oneTimeKeys[u] = d as Record<string, JsonObject>;
          } catch (e) {
            failures[server] = { status: 503, message: (e as Error).message };
          }
        }),
      );
      return { one_time_keys: oneTimeKeys, failures };
    },

    async keyChanges(requester, from, to) {
      if (from === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "from" query parameter');
      const since = parseSyncToken(from);
      if (!since) throw new MatrixError('M_INVALID_PARAM', 'Invalid "from" token');
      if (to !== undefined && !parseSyncToken(to)) throw new MatrixError('M_INVALID_PARAM', 'Invalid "to" token');
      // `to` is only a hint (spec); like Synapse we answer up to now, so a stale `to` misses nothing.
      const upTo = deviceLists.position();
      return deviceLists.changesFor(requester.userId, Math.min(since.deviceLists, upTo), upTo);
    },

    async uploadCrossSigningKeys(requester, rawBody, operation) {
      const body = bodyObject(rawBody);
      const userId = requester.userId;
      const existing = await currentCrossSigning(userId);
      const provided = CROSS_SIGNING_FIELDS.filter(([field]) => body[field] !== undefined);

      // The same keys again (a retried request): nothing to do, and no UIA (spec v1.11).
      const unchanged = provided.every(([field, type]) => {
        const old = existing.get(type);
        try {
          return old !== undefined && canonicalJson(old.obj) === canonicalJson(body[field]);
        } catch {
          return false;
        }
      });
      if (unchanged) return { result: {} };

      // Check everything before asking for a password: a wrong upload fails at once.
      const uploaded = new Map<CrossSigningKeyType, { info: CrossSigningKeyInfo; obj: JsonObject }>();
      let master: CrossSigningKeyInfo | undefined;
      if (body.master_key !== undefined) {
        master = checkCrossSigningKey(body.master_key, userId, 'master');
        uploaded.set('master', { info: master, obj: body.master_key as JsonObject });
      } else {
        const old = existing.get('master');
        master = old ? crossSigningKeyInfo(old.obj) : undefined;
      }
      if (!master) throw new MatrixError('M_MISSING_PARAM', 'No master key available');
      for (const [field, type] of CROSS_SIGNING_FIELDS) {
        if (type === 'master' || body[field] === undefined) continue;
        uploaded.set(type, { info: checkCrossSigningKey(body[field], userId, type, master), obj: body[field] as JsonObject });
      }
      // Spec: servers MUST NOT let device IDs collide with cross-signing public keys.
      const deviceIds = new Set(await store.deviceIdsOf(userId));
      for (const { info } of uploaded.values()) {
        if (deviceIds.has(info.publicKey)) throw new MatrixError('M_FORBIDDEN', 'Key ID in use', 403);
      }

      // First upload (no master key yet) needs no UIA (MSC3967); replacing keys does.
      if (existing.has('master')) {
        const fingerprint = canonicalJson(Object.fromEntries(provided.map(([field]) => [field, body[field]!])));
        const outcome = await users.requirePasswordAuth(requester, body, operation, fingerprint);
        if (!outcome.done) return { uia: outcome.body };
        users.uia.remove(outcome.session.id);
      }

      const rows: CrossSigningKeyRow[] = [...uploaded].map(([keyType, u]) => ({
        keyType,
        publicKey: u.info.publicKey,
        keyJson: JSON.stringify(u.obj),
      }));
      await store.setCrossSigningKeys(userId, rows, clock());
      if (rows.some((r) => r.keyType !== 'user_signing')) announceDeviceListChange(userId);
      else notifier?.wakeUsers([userId]);
      return { result: {} };
    },

    async uploadSignatures(requester, rawBody) {
      const body = bodyObject(rawBody);
      const userId = requester.userId;
      for (const [target, keys] of Object.entries(body)) {
        if (!isJsonObject(keys) || !Object.values(keys).every(isJsonObject)) {
          throw new MatrixError('M_INVALID_PARAM', `Signed keys of ${target} must be objects`);
        }
      }
      const failures: Record<string, Record<string, JsonObject>> = {};
      const fail = (user: string, key: string, e: unknown) => {
        if (!(e instanceof MatrixError)) throw e;
        (failures[user] ??= {})[key] = failureOf(e);
      };
      const rows: SignatureRow[] = [];
      let ownKeysSigned = false;
      const signedOthers: string[] = [];
      const cs = await currentCrossSigning(userId);

      // Signatures of the user's own keys: devices signed by the self-signing key, and the master
      // key signed by the user's devices.
      const own = body[userId] as Record<string, JsonObject> | undefined;
      if (own && Object.keys(own).length > 0) {
        const ssk = cs.get('self_signing');
        const master = cs.get('master');
        const devices = new Map((await store.queryDeviceKeys(userId, [])).map((r) => [r.deviceId, parseObject(r.keyJson)] as const));
        const setup =
          !ssk ? new MatrixError('M_NOT_FOUND', `No self_signing key found for ${userId}`, 404)
          : !master ? new MatrixError('M_NOT_FOUND', `No master key found for ${userId}`, 404)
          : devices.size === 0 ? new MatrixError('M_NOT_FOUND', 'No device keys found', 404)
          : undefined;
        for (const [keyId, signed] of Object.entries(own)) {
          try {
            if (setup) throw setup;
            const sigs = isJsonObject(signed.signatures) ? signed.signatures[userId] : undefined;
            if (!isJsonObject(sigs)) throw invalidSignature();
            if (keyId === master!.publicKey) {
              // The master key, signed by one or more of the user's devices.
              checkSameKey(signed, master!.obj);
              const found: SignatureRow[] = [];
              for (const [signerKeyId, signature] of Object.entries(sigs)) {
                const signerDevice = signerKeyId.startsWith('ed25519:') ? signerKeyId.slice('ed25519:'.length) : undefined;
                const device = signerDevice === undefined ? undefined : devices.get(signerDevice);
                const devKey = device ? deviceEd25519Key(device, signerDevice!) : undefined;
                if (devKey === undefined || typeof signature !== 'string') throw invalidSignature();
                if (!verifyJsonSignature(signed, userId, signerKeyId, devKey)) throw invalidSignature();
                found.push({ targetUserId: userId, targetKeyId: keyId, signerUserId: userId, signerKeyId, signature });
              }
              rows.push(...found);
              ownKeysSigned ||= found.length > 0;
              continue;
            }
            // A device, signed by the self-signing key.
            const signature = sigs[ssk!.info.keyId];
            if (typeof signature !== 'string') throw invalidSignature();
            const stored = devices.get(keyId);
            if (!stored) throw new MatrixError('M_NOT_FOUND', 'Unknown device', 404);
            checkSameKey(signed, stored);
            if (!verifyJsonSignature(signed, userId, ssk!.info.keyId, ssk!.publicKey)) throw invalidSignature();
            rows.push({ targetUserId: userId, targetKeyId: keyId, signerUserId: userId, signerKeyId: ssk!.info.keyId, signature });
            ownKeysSigned = true;
          } catch (e) {
            fail(userId, keyId, e);
          }
        }
      }

      // Other users' master keys, signed by the user's user-signing key.
      const others = Object.entries(body).filter(([target]) => target !== userId) as [string, Record<string, JsonObject>][];
      if (others.length > 0) {
        const usk = cs.get('user_signing');
        for (const [target, keys] of others) {
          let masterKeyId: string | undefined;
          try {
            if (!usk) throw new MatrixError('M_NOT_FOUND', `No user_signing key found for ${userId}`, 404);
            // Remote users' master keys come with federation; until then they are unknown here.
            const targetMaster = isLocal(target) ? (await currentCrossSigning(target)).get('master') : undefined;
            if (!targetMaster) throw new MatrixError('M_NOT_FOUND', `No master key found for ${target}`, 404);
            if (!Object.hasOwn(keys, targetMaster.publicKey)) throw new MatrixError('M_NOT_FOUND', 'Unknown device', 404);
            masterKeyId = targetMaster.publicKey;
            // Only the master key of another user can be signed.
            for (const k of Object.keys(keys)) if (k !== masterKeyId) fail(target, k, new MatrixError('M_NOT_FOUND', 'Unknown device', 404));
            const signed = keys[masterKeyId]!;
            checkSameKey(signed, targetMaster.obj);
            const sigs = isJsonObject(signed.signatures) ? signed.signatures[userId] : undefined;
            const signature = isJsonObject(sigs) ? sigs[usk.info.keyId] : undefined;
            if (typeof signature !== 'string') throw invalidSignature();
            if (!verifyJsonSignature(signed, userId, usk.info.keyId, usk.publicKey)) throw invalidSignature();
            rows.push({ targetUserId: target, targetKeyId: masterKeyId, signerUserId: userId, signerKeyId: usk.info.keyId, signature });
            signedOthers.push(target);
          } catch (e) {
            if (masterKeyId === undefined) for (const k of Object.keys(keys)) fail(target, k, e);
            else fail(target, masterKeyId, e);
          }
        }
      }

      if (rows.length > 0) {
        // Own keys: everyone sharing a room re-queries. Others' keys: only the signer is told
        // (signatures by user-signing keys are only shown to their maker).
        await store.storeSignatures(rows, [
          { userIds: ownKeysSigned ? [userId] : [] },
          { userIds: signedOthers, viewerId: userId },
        ]);
        if (ownKeysSigned) announceDeviceListChange(userId);
        else notifier?.wakeUsers([userId]);
      }
      return { failures };
    },

    async sendToDevice(requester, eventType, txnId, rawBody) {
      const body = bodyObject(rawBody);
      const messages = body.messages;
      if (messages === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "messages"');
      if (!isJsonObject(messages)) throw new MatrixError('M_BAD_JSON', '"messages" must be an object');
      const sender = requester.userId;
      const deliveries: ToDeviceDelivery[] = [];
      const remote = new Map<string, JsonObject>();
      for (const [userId, byDevice] of Object.entries(messages)) {
        if (!isJsonObject(byDevice)) throw new MatrixError('M_BAD_JSON', `"messages.${userId}" must be an object`);
        const server = serverOf(userId);
        // Synapse ignores invalid recipients rather than failing the whole request.
        if (server === undefined) continue;
        for (const [deviceId, content] of Object.entries(byDevice)) {
          if (!isJsonObject(content)) throw new MatrixError('M_BAD_JSON', `Message for ${userId} ${deviceId} must be an object`);
          const messageJson = JSON.stringify({ content, sender, type: eventType });
          if (Buffer.byteLength(messageJson, 'utf8') > MAX_TO_DEVICE_MESSAGE_BYTES) {
            throw new MatrixError('M_TOO_LARGE', `To-device message for ${userId}:${deviceId} is too large`, 413);
          }
          if (server === serverName) deliveries.push({ userId, deviceId, messageJson });
        }
        if (server !== serverName) (remote.get(server) ?? remote.set(server, {}).get(server)!)[userId] = byDevice;
      }
      const now = clock();
      const r = await store.sendToDevice({ userId: sender, deviceId: requester.deviceId }, eventType, txnId, deliveries, now);
      if (now - lastTxnPrune > TXN_PRUNE_INTERVAL_MS) {
        lastTxnPrune = now;
        await store.pruneToDeviceTxns(now - TXN_RETENTION_MS);
      }
      if (r.duplicate) return {};
      if (r.recipients.length > 0) notifier?.wakeUsers(r.recipients);
      for (const [server, byUser] of remote) {
        const send = deps.federation?.sendToDevice;
        if (!send) {
          deps.logger?.warn({ server, type: eventType }, 'to-device messages for a remote server dropped: federation is not available');
          continue;
        }
        send(server, { sender, type: eventType, message_id: randomBytes(12).toString('base64url'), messages: byUser });
      }
      return {};
    },

    async getDehydratedDevice(requester) {
      const d = await store.getDehydratedDevice(requester.userId);
      if (!d) throw new MatrixError('M_NOT_FOUND', 'No dehydrated device available', 404);
      return { device_id: d.deviceId, device_data: parseObject(d.deviceData) };
    },

    async putDehydratedDevice(requester, rawBody) {
      const body = bodyObject(rawBody);
      const userId = requester.userId;
      const { device_id: deviceId, device_data: deviceData, initial_device_display_name: displayName } = body;
      if (deviceId === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "device_id"');
      if (deviceData === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "device_data"');
      if (typeof deviceId !== 'string' || deviceId.length === 0) throw new MatrixError('M_BAD_JSON', '"device_id" must be a string');
      if (!isJsonObject(deviceData) || typeof deviceData.algorithm !== 'string') {
        throw new MatrixError('M_BAD_JSON', '"device_data" must be an object with an "algorithm"');
      }
      if (displayName !== undefined && displayName !== null && typeof displayName !== 'string') {
        throw new MatrixError('M_BAD_JSON', '"initial_device_display_name" must be a string');
      }
      if (body.device_keys === undefined) throw new MatrixError('M_MISSING_PARAM', 'Device key(s) not found, these must be provided.');
      // Validate every key before touching anything.
      checkDeviceKeys(body.device_keys, userId, deviceId);
      parseKeyMap(body.one_time_keys, 'one_time_keys');
      parseKeyMap(body.fallback_keys, 'fallback_keys');

      const old = await store.getDehydratedDevice(userId);
      if (old?.deviceId !== deviceId && (await store.deviceIdsOf(userId)).includes(deviceId)) {
        throw new MatrixError('M_INVALID_PARAM', 'A device with this ID already exists');
      }
      // A new dehydrated device replaces the previous one, with everything held for it.
      if (old) await users.removeDevices(userId, [old.deviceId]);
      await users.createDevice(userId, deviceId, typeof displayName === 'string' ? displayName : null);
      await storeKeys(userId, deviceId, body);
      await store.setDehydratedDevice(userId, deviceId, JSON.stringify(deviceData));
      return { device_id: deviceId };
    },

    async deleteDehydratedDevice(requester) {
      const d = await store.getDehydratedDevice(requester.userId);
      if (!d) throw new MatrixError('M_NOT_FOUND', 'No dehydrated device available', 404);
      await users.removeDevices(requester.userId, [d.deviceId]);
      return { device_id: d.deviceId };
    },

    async dehydratedDeviceEvents(requester, deviceId, from, limit) {
      const d = await store.getDehydratedDevice(requester.userId);
      if (!d) throw new MatrixError('M_FORBIDDEN', 'No dehydrated device exists', 403);
      if (d.deviceId !== deviceId) throw new MatrixError('M_FORBIDDEN', 'You may only fetch messages for your dehydrated device', 403);
      let since = 0;
      if (from !== undefined) {
        const m = /^d?([0-9]{1,15})$/.exec(from);
        if (!m) throw new MatrixError('M_INVALID_PARAM', `from parameter ${JSON.stringify(from)} has an invalid format`);
        since = Number(m[1]);
      }
      const upTo = store.toDevicePosition();
      since = Math.min(since, upTo);
      // Messages before the token were received by the client that asked with it.
      toDevice.acknowledge(requester.userId, deviceId, since);
      const { events, nextPosition } = toDevice.messagesFor(requester.userId, deviceId, since, upTo, limit);
      return { events, next_batch: `d${nextPosition}` };
    },

    async remoteDeviceListChanged(userIds) {
      if (userIds.length === 0) return;
      await store.recordDeviceListChange(userIds);
      const wake = new Set<string>();
      for (const u of userIds) for (const v of deviceLists.usersSharingRoomWith(u)) if (isLocal(v)) wake.add(v);
      notifier?.wakeUsers([...wake]);
    },

    async applyRemoteToDevice(edu) {
      const deliveries: ToDeviceDelivery[] = [];
      for (const [userId, byDevice] of Object.entries(edu.messages)) {
        // A remote server only addresses our users here; others are ignored, as Synapse does.
        if (!isLocal(userId) || !isJsonObject(byDevice)) continue;
        for (const [deviceId, content] of Object.entries(byDevice)) {
          if (!isJsonObject(content)) continue;
          deliveries.push({ userId, deviceId, messageJson: JSON.stringify({ content, sender: edu.sender, type: edu.type }) });
        }
      }
      if (deliveries.length === 0) return 0;
      // The message_id makes a retried EDU a duplicate (the remote sender has no device here).
      const r = await store.sendToDevice({ userId: edu.sender, deviceId: '' }, edu.type, `federation:${edu.messageId}`, deliveries, clock());
      if (r.recipients.length > 0) notifier?.wakeUsers(r.recipients);
      return r.recipients.length;
    },

    close() {
      const remove = <T>(list: T[], fn: T) => {
        const i = list.indexOf(fn);
        if (i >= 0) list.splice(i, 1);
      };
      remove(users.hooks.devicesRemoved, onDevicesRemoved);
      remove(users.hooks.devicesChanged, onDevicesChanged);
      remove(users.hooks.userDeactivated, onDeactivated);
    },
  };

  async function queryRemote(remote: Map<string, Record<string, string[]>>, timeout: number, result: Record<string, JsonObject>): Promise<void> {
    const failures = result.failures!;
    await Promise.all(
      [...remote].map(async ([server, q]) => {
        const query = deps.federation?.queryKeys;
        if (!query) {
          failures[server] = { status: 503, message: 'Federation is not available' };
          return;
        }
        try {
          const answer = await withTimeout(query(server, q, timeout), timeout);
          for (const field of ['device_keys', 'master_keys', 'self_signing_keys'] as const) {
            const part = answer[field];
            if (!isJsonObject(part)) continue;
            // Only what was asked of that server, about its own users.
            for (const [u, v] of Object.entries(part)) if (u in q && isJsonObject(v)) (result[field] ??= {})[u] = v;
          }
        } catch (e) {
          failures[server] = { status: 503, message: (e as Error).message };
        }
      }),
    );
  }
}

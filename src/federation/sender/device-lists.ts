// Outbound device lists (server-server API "Device Management", m.device_list_update, and
// "End-to-End Encryption", m.signing_key_update): when a local user's devices or public keys
// change, each changed or deleted device goes to the servers sharing a room with the user, in a
// chain of stream IDs per destination (prev_id: the previous update that destination was sent),
// so a peer that missed one notices and re-fetches the list with /user/devices.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/json/canonical.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import type { CrossSigningKeyRow, DeviceKeysRow, SignatureRow } from '../../e2ee/store.js';
import type { StreamCounters } from '../../users/streams.js';
import type { SenderLogger } from './sender.js';
import type { SenderStore } from './store.js';

/** The stream_counters name of the stream IDs of outbound device list updates. */
export const OUTBOUND_DEVICE_LIST_STREAM = 'federation_device_list_outbound';
const CROSS_SIGNING_ITEM = 'x';
const DEVICE_ITEM_PREFIX = 'd:';
/** Digest of a device with no uploaded keys. */
const NO_KEYS = '-';

/** What the announcer reads of the E2EE store. */
export interface DeviceKeysReader {
  queryUsers(userIds: readonly string[], viewer: string): Promise<{
    devices: (DeviceKeysRow & { userId: string })[];
    crossSigning: (CrossSigningKeyRow & { userId: string })[];
    signatures: SignatureRow[];
  }>;
  deviceIdsOf(userId: string): Promise<string[]>;
}

export interface DeviceListAnnouncerDeps {
  readonly store: SenderStore;
  readonly keys: DeviceKeysReader;
  readonly counters: StreamCounters;
  readonly serverName: string;
  /** Servers sharing a room with the user, ours excluded. */
  destinationsOf(userId: string): string[];
  /** The updates were queued (persisted) for these destinations: send them. */
  wake(destinations: readonly string[]): void;
  readonly clock?: () => number;
  readonly logger?: SenderLogger;
}

/** A device update before it is addressed: `keys` absent for a device without keys or a deleted one. */
interface DeviceChange {
  readonly deviceId: string;
  readonly deleted: boolean;
  readonly keys: JsonObject | undefined;
  readonly digest: string | null;
}

function digestOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64');
}

/** Adds the signatures of `rows` to `obj.signatures` (keeping those already there). */
function withSignatures(obj: JsonObject, rows: readonly SignatureRow[]): JsonObject {
  if (rows.length === 0) return obj;
  const sigs: JsonObject = isJsonObject(obj.signatures) ? { ...obj.signatures } : {};
  for (const r of rows) {
    const bySigner = sigs[r.signerUserId];
    sigs[r.signerUserId] = { ...(isJsonObject(bySigner) ? bySigner : {}), [r.signerKeyId]: r.signature };
  }
  return { ...obj, signatures: sigs };
}

export class DeviceListAnnouncer {
  /** One announcement at a time per user, in the order of the changes. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly now: () => number;

  constructor(private readonly d: DeviceListAnnouncerDeps) {
    this.now = d.clock ?? Date.now;
  }

  /** A local user's devices or keys changed (the E2EE hook `localDeviceListChanged`). */
  changed(userId: string): void {
    const prev = this.chains.get(userId) ?? Promise.resolve();
    const next = prev
      .then(() => this.announce(userId))
      .catch((err: unknown) => this.d.logger?.warn({ err, userId }, 'device list update not queued'))
      .finally(() => {
        if (this.chains.get(userId) === next) this.chains.delete(userId);
      });
    this.chains.set(userId, next);
  }

  /** Resolves once every announcement started so far has been queued. */
  async settled(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /**
   * Compares the user's devices and cross-signing keys with what was last announced and queues an
   * update per changed or deleted device (and m.signing_key_update when the master or
   * self-signing key changed) for every server sharing a room with the user.
   */
  async announce(userId: string): Promise<void> {
    const { devices, crossSigning, signatures } = await this.d.keys.queryUsers([userId], userId);
    const deviceIds = await this.d.keys.deviceIdsOf(userId);
    const own = signatures.filter((s) => s.targetUserId === userId && s.signerUserId === userId);
    const sigsOn = (keyId: string) => own.filter((s) => s.targetKeyId === keyId);

    const current = new Map<string, { keys: JsonObject | undefined; digest: string }>();
    for (const id of deviceIds) current.set(id, { keys: undefined, digest: NO_KEYS });
    for (const dev of devices) {
      if (dev.userId !== userId) continue;
      const keys = withSignatures(JSON.parse(dev.keyJson) as JsonObject, sigsOn(dev.deviceId));
      current.set(dev.deviceId, { keys, digest: digestOf(keys) });
    }
    // Master and self-signing keys, with the owner's signatures (the user-signing key stays private).
    const cross: JsonObject = {};
    for (const k of crossSigning) {
      if (k.userId !== userId || k.keyType === 'user_signing') continue;
      cross[k.keyType === 'master' ? 'master_key' : 'self_signing_key'] = withSignatures(JSON.parse(k.keyJson) as JsonObject, sigsOn(k.publicKey));
    }
    const crossDigest = Object.keys(cross).length > 0 ? digestOf(cross) : null;

    const announced = this.d.store.announcedDevices(userId);
    const changes: DeviceChange[] = [];
    for (const [deviceId, c] of current) {
      if (announced.get(DEVICE_ITEM_PREFIX + deviceId) !== c.digest) changes.push({ deviceId, deleted: false, keys: c.keys, digest: c.digest });
    }
    for (const item of announced.keys()) {
      if (!item.startsWith(DEVICE_ITEM_PREFIX)) continue;
      const deviceId = item.slice(DEVICE_ITEM_PREFIX.length);
      if (!current.has(deviceId)) changes.push({ deviceId, deleted: true, keys: undefined, digest: null });
    }
    const crossChanged = crossDigest !== (announced.get(CROSS_SIGNING_ITEM) ?? null);
    if (changes.length === 0 && !crossChanged) return;

    const destinations = this.d.destinationsOf(userId);
    const t = this.now();
    this.d.store.transaction(() => {
      // One stream ID per update, the same for every destination; prev_id differs per destination.
      const streamIds = changes.map(() => this.d.counters.next(OUTBOUND_DEVICE_LIST_STREAM));
      for (const dest of destinations) {
        let prev = this.d.store.lastDeviceListStream(dest, userId);
        changes.forEach((c, i) => {
          const streamId = streamIds[i]!;
          const content: JsonObject = { user_id: userId, device_id: c.deviceId, stream_id: streamId, prev_id: prev === undefined ? [] : [prev] };
          if (c.deleted) content.deleted = true;
          else if (c.keys) content.keys = c.keys;
          this.d.store.insertEdu(dest, 'm.device_list_update', JSON.stringify(content), t);
          prev = streamId;
        });
        if (prev !== undefined) this.d.store.setDeviceListStream(dest, userId, prev);
        if (crossChanged && crossDigest !== null) {
          this.d.store.insertEdu(dest, 'm.signing_key_update', JSON.stringify({ user_id: userId, ...cross }), t);
        }
      }
      for (const c of changes) this.d.store.setAnnounced(userId, DEVICE_ITEM_PREFIX + c.deviceId, c.digest);
      if (crossChanged) this.d.store.setAnnounced(userId, CROSS_SIGNING_ITEM, crossDigest);
    });
    if (destinations.length > 0) this.d.wake(destinations);
  }
}

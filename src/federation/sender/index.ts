// The outbound federation sender and its wiring to the areas that produce EDUs: typing, receipts
// and presence (memory-only, batched), to-device messages and device lists (persisted).
import type { E2eeFederation } from '../../e2ee/service.js';
import type { PresenceService } from '../../ephemeral/presence.js';
import type { ReceiptsService } from '../../ephemeral/receipts.js';
import type { TypingService } from '../../ephemeral/typing.js';
import { REMOTE_TYPING_TIMEOUT_MS } from '../../ephemeral/typing.js';
import { serverNameOf } from '../../core/ids.js';
import type { JsonObject } from '../../core/json/types.js';
import type { Database } from '../../store/db.js';
import type { PersistedEventInfo, Store } from '../../store/index.js';
import { createStreamCounters } from '../../users/streams.js';
import { DeviceListAnnouncer, type DeviceKeysReader } from './device-lists.js';
import { toDeviceEdu, typingEdu } from './edus.js';
import type { FederationSender, SenderLogger } from './sender.js';
import { SenderStore } from './store.js';

export { createFederationSender, DEFAULT_CATCH_UP_THRESHOLD, MAX_EDUS_PER_TXN, MAX_PDUS_PER_TXN } from './sender.js';
export type { DestinationStatus, EnqueueEduOptions, FederationSender, FederationSenderDeps, SenderLogger } from './sender.js';
export { DEFAULT_BACKOFF, classifyFailure, nextRetryInterval, type BackoffPolicy } from './backoff.js';
export { buildReceiptEdu, presenceEdu, toDeviceEdu, typingEdu, type Edu, type OutboundReceipt } from './edus.js';
export { DeviceListAnnouncer, OUTBOUND_DEVICE_LIST_STREAM, type DeviceKeysReader } from './device-lists.js';

export interface SenderSourcesDeps {
  readonly db: Database;
  readonly serverName: string;
  readonly clock?: () => number;
  readonly logger?: SenderLogger;
  readonly typing?: Pick<TypingService, 'onOutbound'> | undefined;
  readonly receipts?: Pick<ReceiptsService, 'onOutbound'> | undefined;
  readonly presence?: Pick<PresenceService, 'onOutbound' | 'presenceSince'> | undefined;
  /**
   * The room store: with it and `presence`, a server whose first user joins a room gets the
   * presence of our users there, and a local user joining a room is announced to its servers.
   */
  readonly store?: Store | undefined;
  /**
   * The hook object the E2EE service was built with (`createE2eeService({federation})`): its
   * `sendToDevice` and `localDeviceListChanged` are set here.
   */
  readonly e2eeHooks?: E2eeFederation | undefined;
  /** The E2EE key store (`e2ee.keyStore`), read to build device list updates. */
  readonly e2eeKeys?: DeviceKeysReader | undefined;
}

export interface SenderSources {
  /** Present when the E2EE hooks were given. */
  readonly deviceLists: DeviceListAnnouncer | undefined;
  /** Removes the listeners and hooks installed. */
  disconnect(): void;
}

function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

/** Connects the EDU producers to the sender: each update goes to the servers that must hear it. */
export function connectSenderSources(sender: FederationSender, deps: SenderSourcesDeps): SenderSources {
  const undo: (() => void)[] = [];

  if (deps.typing) {
    const list = deps.typing.onOutbound;
    // m.typing to every other server in the room; a newer state of the same user replaces a queued one.
    const l = (u: { roomId: string; userId: string; typing: boolean }) => {
      const edu = typingEdu(u.roomId, u.userId, u.typing);
      for (const dest of sender.roomDestinations(u.roomId)) {
        sender.enqueueEdu(dest, edu, { key: `m.typing\u0000${u.roomId}\u0000${u.userId}`, ttlMs: REMOTE_TYPING_TIMEOUT_MS });
      }
    };
    list.push(l);
    undo.push(() => removeFrom(list, l));
  }

  if (deps.receipts) {
    const list = deps.receipts.onOutbound;
    // Public read receipts only: the receipts service never reports m.read.private here.
    const l: (typeof list)[number] = (r) => {
      const receipt = { roomId: r.roomId, userId: r.userId, receiptType: r.receiptType, threadId: r.threadId, eventId: r.eventId, ts: r.ts };
      for (const dest of sender.roomDestinations(r.roomId)) sender.enqueueReceipt(dest, receipt);
    };
    list.push(l);
    undo.push(() => removeFrom(list, l));
  }

  if (deps.presence) {
    const list = deps.presence.onOutbound;
    // m.presence to the servers sharing a room with the user; batched per destination.
    const l: (typeof list)[number] = (push) => {
      const userId = push.user_id;
      if (typeof userId !== 'string') return;
      for (const dest of sender.userDestinations(userId)) sender.enqueuePresence(dest, push);
    };
    list.push(l);
    undo.push(() => removeFrom(list, l));
  }

  if (deps.presence && deps.store) {
    const presence = deps.presence;
    const store = deps.store;
    let active = true;
    let pending: { roomId: string; userId: string }[] = [];
    /** The federation form of users' current presence (offline users are left out). */
    const pushesOf = (userIds: string[]): JsonObject[] =>
      presence.presenceSince(userIds, 0).map((e) => {
        const content = e.content as JsonObject;
        return { ...content, user_id: e.sender as string, currently_active: content.currently_active === true };
      });
    const flush = async (joins: { roomId: string; userId: string }[]) => {
      for (const { roomId, userId } of joins) {
        const server = serverNameOf(userId);
        if (server === undefined) continue;
        if (server === deps.serverName) {
          // A local user joined: their presence goes to the room's other servers.
          const pushes = pushesOf([userId]);
          for (const dest of sender.roomDestinations(roomId)) for (const p of pushes) sender.enqueuePresence(dest, p);
          continue;
        }
        // A remote user joined: if they are the first of their server here, that server learns the
        // presence of our users in the room (as Synapse does for newly joined hosts).
        const members = await store.getRoomMembers(roomId, 'join');
        if (members.filter((m) => serverNameOf(m.userId) === server).length !== 1) continue;
        const ours = members.map((m) => m.userId).filter((u) => serverNameOf(u) === deps.serverName);
        for (const p of pushesOf(ours)) sender.enqueuePresence(server, p);
      }
    };
    store.core.addDerivedWriter((info: PersistedEventInfo) => {
      const ev = info.event;
      if (!active || ev.type !== 'm.room.member' || ev.stateKey === undefined || ev.content.membership !== 'join') return;
      if (info.outlier || info.backfilled || info.rejectedReason !== null || info.softFailed) return;
      if (pending.length === 0) {
        // After the event's transaction has committed.
        setImmediate(() => {
          const joins = pending;
          pending = [];
          if (active) flush(joins).catch((err: unknown) => deps.logger?.warn({ err }, 'presence for joined servers not queued'));
        });
      }
      pending.push({ roomId: info.roomId, userId: ev.stateKey });
    });
    undo.push(() => {
      active = false;
    });
  }

  let deviceLists: DeviceListAnnouncer | undefined;
  const hooks = deps.e2eeHooks;
  if (hooks) {
    const prevSend = hooks.sendToDevice;
    const prevChanged = hooks.localDeviceListChanged;
    hooks.sendToDevice = (server, edu) => sender.enqueueEdu(server, toDeviceEdu(edu), { persist: true });
    if (deps.e2eeKeys) {
      const announcer = new DeviceListAnnouncer({
        store: new SenderStore(deps.db),
        keys: deps.e2eeKeys,
        counters: createStreamCounters(deps.db),
        serverName: deps.serverName,
        destinationsOf: (userId) => sender.userDestinations(userId),
        wake: (dests) => {
          for (const d of dests) sender.wake(d);
        },
        ...(deps.clock ? { clock: deps.clock } : {}),
        ...(deps.logger ? { logger: deps.logger } : {}),
      });
      deviceLists = announcer;
      hooks.localDeviceListChanged = (userId) => announcer.changed(userId);
    }
    undo.push(() => {
      hooks.sendToDevice = prevSend;
      hooks.localDeviceListChanged = prevChanged;
    });
  }

  return {
    deviceLists,
    disconnect() {
      for (const u of undo.splice(0)) u();
    },
  };
}

// What /sync reads from the areas outside the room event stream. Each area implements its source
// and registers it in AppServices; sync asks each for its own stream position and its changes
// since the position carried in the client's token. Every position is a monotonic integer that
// survives a restart, unless the source says otherwise (typing is in-memory, as in Synapse).

import type { JsonObject } from '../core/json/types.js';

/** m.typing: in-memory; positions restart from a fresh base after a restart (see `position`). */
export interface TypingSource {
  position(): number;
  /** For each of `roomIds` whose typing set changed after `since`: the users typing now. */
  typingChangedSince(roomIds: readonly string[], since: number): Map<string, string[]>;
  /** Current typing users of a room (initial sync). */
  typingUsers(roomId: string): string[];
}

/** m.receipt: persisted. */
export interface ReceiptsSource {
  position(): number;
  /**
   * The m.receipt event content per room for receipts that changed after `since` (all receipts when
   * since is 0), seen by `userId` (m.read.private only for that user's own receipts).
   */
  receiptsSince(userId: string, roomIds: readonly string[], since: number): Map<string, JsonObject>;
}

/** m.presence: persisted. */
export interface PresenceSource {
  position(): number;
  /** m.presence events ({type, sender, content}) of `userIds` that changed after `since`. */
  presenceSince(userIds: readonly string[], since: number): JsonObject[];
  /**
   * `set_presence` on /sync, and marking the user active. Returns the function to call when that
   * sync request ends, so "offline after sync inactivity" counts from the end of the last sync.
   */
  syncedWithPresence(userId: string, presence: 'online' | 'offline' | 'unavailable'): (() => void) | void;
}

/** To-device messages (E2EE): persisted, deleted once acknowledged. */
export interface ToDeviceSource {
  position(): number;
  /**
   * Messages for the device with positions in (since, upTo], oldest first, at most `limit`;
   * `nextPosition` is the position the next token must carry (the last one returned, or upTo).
   */
  messagesFor(userId: string, deviceId: string, since: number, upTo: number, limit: number): { events: JsonObject[]; nextPosition: number };
  /** The client synced with a token carrying `upTo`: every message up to it was received. */
  acknowledge(userId: string, deviceId: string, upTo: number): void;
}

/** Device lists and one-time keys (E2EE): persisted. */
export interface DeviceKeysSource {
  position(): number;
  /** Users sharing a room with `userId` whose devices or cross-signing keys changed in (since, upTo];
   * `left`: users who no longer share any room with `userId` after a membership change in that range. */
  deviceListChanges(userId: string, since: number, upTo: number): { changed: string[]; left: string[] };
  oneTimeKeyCounts(userId: string, deviceId: string): Record<string, number>;
  unusedFallbackKeyTypes(userId: string, deviceId: string): string[];
}

/** Notification counts (push): derived from push rule evaluation at persist time and receipts. */
export interface NotificationCountsSource {
  unreadCounts(userId: string, roomId: string): { notification_count: number; highlight_count: number };
  /** Counts per thread (null key: the main timeline), for filters with unread_thread_notifications. */
  unreadThreadCounts?(userId: string, roomId: string): Map<string | null, { notification_count: number; highlight_count: number }>;
}

export interface SyncSources {
  typing?: TypingSource;
  receipts?: ReceiptsSource;
  presence?: PresenceSource;
  toDevice?: ToDeviceSource;
  deviceKeys?: DeviceKeysSource;
  notificationCounts?: NotificationCountsSource;
}

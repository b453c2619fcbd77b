// EDUs of an inbound /send (server-server API "EDUs", "Typing Notifications", "Presence",
// "Receipts", "Device Management", "End-to-End Encryption", "Send-to-device messaging"): each is
// dispatched by type to the area that owns it. A server only speaks for its own users: an EDU about
// another server's user is ignored. Server ACLs apply to typing and receipts (MSC4163, as Synapse).
// Unknown types are ignored; a failing EDU never fails the transaction.
import type { Logger } from 'pino';
import { serverNameOf } from '../../core/ids.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../core/json/types.js';
import type { E2eeService } from '../../e2ee/service.js';
import type { PresenceService } from '../../ephemeral/presence.js';
import type { ReceiptsService } from '../../ephemeral/receipts.js';
import type { TypingService } from '../../ephemeral/typing.js';
import type { Store } from '../../store/index.js';
import { serverAclAllows } from '../acl.js';

export interface EduDeps {
  readonly store: Store;
  readonly typing?: Pick<TypingService, 'applyRemoteTyping'> | undefined;
  readonly receipts?: Pick<ReceiptsService, 'applyRemoteReceipt'> | undefined;
  readonly presence?: Pick<PresenceService, 'applyRemotePresence'> | undefined;
  readonly e2ee?: Pick<E2eeService, 'remoteDeviceListChanged' | 'applyRemoteToDevice'> | undefined;
  readonly logger?: Logger | undefined;
}

/** Handles one EDU's content from `origin`. */
export type EduHandler = (origin: string, content: JsonObject) => Promise<void>;

/** EDUs applied at once per transaction, at most. */
const EDU_CONCURRENCY = 10;

function speaksFor(origin: string, userId: unknown): userId is string {
  return typeof userId === 'string' && serverNameOf(userId) === origin;
}

export class EduDispatcher {
  private readonly handlers = new Map<string, EduHandler>();

  constructor(private readonly d: EduDeps) {
    this.handlers.set('m.typing', (o, c) => this.typing(o, c));
    this.handlers.set('m.receipt', (o, c) => this.receipt(o, c));
    this.handlers.set('m.presence', (o, c) => this.presence(o, c));
    this.handlers.set('m.device_list_update', (o, c) => this.deviceListUpdate(o, c));
    this.handlers.set('m.signing_key_update', (o, c) => this.deviceListUpdate(o, c));
    this.handlers.set('m.direct_to_device', (o, c) => this.toDevice(o, c));
  }

  /** Adds or replaces the handler of an EDU type (other areas may register theirs). */
  register(type: string, handler: EduHandler): void {
    this.handlers.set(type, handler);
  }

  /** Applies the EDUs of one transaction; never throws. */
  async dispatch(origin: string, edus: readonly JsonValue[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < edus.length) {
        const edu = edus[next++];
        if (!isJsonObject(edu) || typeof edu.edu_type !== 'string' || !isJsonObject(edu.content)) continue;
        const handler = this.handlers.get(edu.edu_type);
        if (!handler) continue;
        try {
          await handler(origin, edu.content);
        } catch (err) {
          this.d.logger?.warn({ err, origin, type: edu.edu_type }, 'EDU failed');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(EDU_CONCURRENCY, edus.length) }, worker));
  }

  private async aclAllows(roomId: string, origin: string): Promise<boolean> {
    const acl = await this.d.store.getCurrentStateEvent(roomId, 'm.room.server_acl', '');
    return !acl || serverAclAllows(acl.event.content as JsonValue, origin);
  }

  private async typing(origin: string, c: JsonObject): Promise<void> {
    const { room_id: roomId, user_id: userId, typing } = c;
    if (!this.d.typing || typeof roomId !== 'string' || !speaksFor(origin, userId)) return;
    if (!(await this.aclAllows(roomId, origin))) return;
    await this.d.typing.applyRemoteTyping(roomId, userId, typing === true);
  }

  /** content: {roomId: {receiptType: {userId: {event_ids: [...], data: {ts, thread_id?}}}}} */
  private async receipt(origin: string, c: JsonObject): Promise<void> {
    const receipts = this.d.receipts;
    if (!receipts) return;
    for (const [roomId, byType] of Object.entries(c)) {
      if (!isJsonObject(byType) || !(await this.aclAllows(roomId, origin))) continue;
      for (const [receiptType, byUser] of Object.entries(byType)) {
        if (!isJsonObject(byUser)) continue;
        for (const [userId, r] of Object.entries(byUser)) {
          if (!speaksFor(origin, userId) || !isJsonObject(r) || !Array.isArray(r.event_ids)) continue;
          const data = isJsonObject(r.data) ? r.data : {};
          const ts = typeof data.ts === 'number' ? data.ts : undefined;
          const threadId = typeof data.thread_id === 'string' ? data.thread_id : null;
          for (const eventId of r.event_ids) {
            if (typeof eventId !== 'string') continue;
            await receipts.applyRemoteReceipt({ roomId, userId, receiptType, eventId, threadId, ...(ts !== undefined ? { ts } : {}) });
          }
        }
      }
    }
  }

  /** content: {push: [{user_id, presence, status_msg?, last_active_ago?, currently_active?}]} */
  private async presence(origin: string, c: JsonObject): Promise<void> {
    const presence = this.d.presence;
    if (!presence || !Array.isArray(c.push)) return;
    for (const p of c.push) {
      if (!isJsonObject(p) || !speaksFor(origin, p.user_id) || typeof p.presence !== 'string') continue;
      presence.applyRemotePresence({
        userId: p.user_id,
        presence: p.presence,
        ...(typeof p.status_msg === 'string' || p.status_msg === null ? { statusMsg: p.status_msg } : {}),
        ...(typeof p.last_active_ago === 'number' ? { lastActiveAgo: p.last_active_ago } : {}),
        ...(typeof p.currently_active === 'boolean' ? { currentlyActive: p.currently_active } : {}),
      });
    }
  }

  /** m.device_list_update and m.signing_key_update: the user's devices or keys changed. */
  private async deviceListUpdate(origin: string, c: JsonObject): Promise<void> {
    if (!this.d.e2ee || !speaksFor(origin, c.user_id)) return;
    await this.d.e2ee.remoteDeviceListChanged([c.user_id]);
  }

  /** content: {sender, type, message_id, messages: {userId: {deviceId | '*': content}}} */
  private async toDevice(origin: string, c: JsonObject): Promise<void> {
    const { sender, type, message_id: messageId, messages } = c;
    if (!this.d.e2ee || !speaksFor(origin, sender) || typeof type !== 'string' || typeof messageId !== 'string' || !isJsonObject(messages)) return;
    await this.d.e2ee.applyRemoteToDevice({ sender, type, messageId, messages });
  }
}

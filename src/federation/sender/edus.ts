// Outbound EDU shapes (server-server API "Typing Notifications", "Receipts", "Presence",
// "Send-to-device messaging"): pure builders, and the batching of receipts and presence into one
// EDU per transaction.
import type { JsonObject } from '../../core/json/types.js';

/** An EDU as it travels in a transaction. */
export interface Edu {
  readonly edu_type: string;
  readonly content: JsonObject;
}

/** One public read receipt of a local user, waiting for a destination. */
export interface OutboundReceipt {
  readonly roomId: string;
  readonly userId: string;
  readonly receiptType: string;
  /** null: an unthreaded receipt. */
  readonly threadId: string | null;
  readonly eventId: string;
  readonly ts: number;
}

/** Key of a receipt slot: a newer receipt of the same user, type and thread replaces an older one. */
export function receiptKey(r: OutboundReceipt): string {
  return `${r.roomId}\u0000${r.userId}\u0000${r.receiptType}\u0000${r.threadId ?? ''}`;
}

/**
 * One m.receipt EDU for many receipts: `{room_id: {receipt_type: {user_id: {event_ids, data}}}}`
 * (spec "Receipts": `data.ts`, and `data.thread_id` for threaded receipts). A user has one entry
 * per room and type in this shape, so of several threads only the newest travels in one EDU; the
 * others are returned to be sent in a later transaction.
 */
export function buildReceiptEdu(receipts: Iterable<OutboundReceipt>): { edu: Edu; deferred: OutboundReceipt[] } {
  const content: Record<string, Record<string, Record<string, JsonObject>>> = {};
  const placed = new Map<string, OutboundReceipt>();
  const deferred: OutboundReceipt[] = [];
  for (const r of receipts) {
    const slot = `${r.roomId}\u0000${r.receiptType}\u0000${r.userId}`;
    const earlier = placed.get(slot);
    if (earlier && earlier.ts >= r.ts) {
      deferred.push(r);
      continue;
    }
    if (earlier) deferred.push(earlier);
    placed.set(slot, r);
    const data: JsonObject = { ts: r.ts };
    if (r.threadId !== null) data.thread_id = r.threadId;
    ((content[r.roomId] ??= {})[r.receiptType] ??= {})[r.userId] = { event_ids: [r.eventId], data };
  }
  return { edu: { edu_type: 'm.receipt', content }, deferred };
}

/** m.typing: `{room_id, user_id, typing}`. */
export function typingEdu(roomId: string, userId: string, typing: boolean): Edu {
  return { edu_type: 'm.typing', content: { room_id: roomId, user_id: userId, typing } };
}

/** m.presence: `{push: [{user_id, presence, last_active_ago, currently_active, status_msg?}]}`. */
export function presenceEdu(pushes: readonly JsonObject[]): Edu {
  return { edu_type: 'm.presence', content: { push: [...pushes] } };
}

/** m.direct_to_device: `{sender, type, message_id, messages: {user_id: {device_id: content}}}`. */
export function toDeviceEdu(e: { sender: string; type: string; message_id: string; messages: JsonObject }): Edu {
  return { edu_type: 'm.direct_to_device', content: { sender: e.sender, type: e.type, message_id: e.message_id, messages: e.messages } };
}

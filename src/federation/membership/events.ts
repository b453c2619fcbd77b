// Pure helpers of the membership handshakes (server-server API "Joining Rooms", "Knocking upon a
// room", "Inviting to a room", "Leaving Rooms"): event templates (make_*), the checks a joining
// server makes on a template, building and signing the event from it, stripped state for invites
// and knocks. (The order a batch of events is stored in is authOrder in core/events/auth-order.ts.)
import { randomBytes } from 'node:crypto';
import type { SigningKey } from '../../core/crypto/ed25519.js';
import type { RoomVersion } from '../../core/events/room-versions.js';
import { supportedRoomVersions } from '../../core/events/room-versions.js';
import { hashAndSignEvent } from '../../core/events/signing.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';

export type Membership = 'join' | 'leave' | 'knock';

/** Every room version we support, as repeated `ver=` query parameters (make_join, make_knock). */
export function verQuery(): string {
  return supportedRoomVersions()
    .map((v) => `ver=${encodeURIComponent(v.id)}`)
    .join('&');
}

/**
 * The `ver` query values of a make_join/make_knock request. Absent means the requesting server
 * only knows room version 1 (spec make_join: "Defaults to [1]").
 */
export function requestedVersions(query: unknown): string[] {
  if (typeof query !== 'object' || query === null) return ['1'];
  const v = (query as Record<string, unknown>).ver;
  if (v === undefined) return ['1'];
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x): x is string => typeof x === 'string');
}

/** A template from an event we built: no hashes, signatures or our event ID (the joining server sets them). */
export function templateOf(pdu: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(pdu)) {
    if (k === 'hashes' || k === 'signatures' || k === 'event_id' || k === 'unsigned') continue;
    out[k] = v;
  }
  return out;
}

/**
 * What the joining (leaving, knocking) server must verify on a template before signing it: the
 * type, room, sender, state key and membership are those asked for. Returns an error or null.
 */
export function checkTemplate(template: unknown, expect: { roomId: string; userId: string; membership: Membership }): string | null {
  if (!isJsonObject(template)) return 'the template is not an object';
  if (template.type !== 'm.room.member') return `the template has type ${JSON.stringify(template.type)}`;
  if (template.room_id !== expect.roomId) return `the template is for room ${JSON.stringify(template.room_id)}`;
  if (template.sender !== expect.userId) return `the template's sender is ${JSON.stringify(template.sender)}`;
  if (template.state_key !== expect.userId) return `the template's state_key is ${JSON.stringify(template.state_key)}`;
  const content = template.content;
  if (!isJsonObject(content) || content.membership !== expect.membership) return `the template's membership is not ${expect.membership}`;
  if (!Array.isArray(template.prev_events) || !Array.isArray(template.auth_events)) return 'the template lacks prev_events or auth_events';
  if (typeof template.depth !== 'number') return 'the template lacks a depth';
  return null;
}

export function randomEventId(serverName: string): string {
  return `$${randomBytes(12).toString('base64url')}:${serverName}`;
}

/**
 * The event from a checked template, as the joining server sends it: the template's fields, our
 * content (profile, reason) under the template's membership and join authorisation, our
 * origin_server_ts (and `origin` when the template has one), an event ID of our own in v1/v2 rooms,
 * then the content hash and our signature.
 */
export function eventFromTemplate(
  template: JsonObject,
  o: { serverName: string; key: SigningKey; version: RoomVersion; now: number; content?: JsonObject },
): JsonObject {
  const pdu: JsonObject = {};
  for (const [k, v] of Object.entries(template)) {
    if (k === 'hashes' || k === 'signatures' || k === 'unsigned' || k === 'event_id') continue;
    pdu[k] = v;
  }
  const templateContent = template.content as JsonObject;
  const content: JsonObject = { ...(o.content ?? {}) };
  for (const [k, v] of Object.entries(templateContent)) if (k === 'membership' || k === 'join_authorised_via_users_server') content[k] = v;
  pdu.content = content;
  pdu.origin_server_ts = o.now;
  if (Object.hasOwn(template, 'origin')) pdu.origin = o.serverName;
  if (o.version.eventIdFormat === 'v1') pdu.event_id = randomEventId(o.serverName);
  return hashAndSignEvent(pdu, o.serverName, o.key, o.version);
}

/** Types of the state given with invites and knocks (Synapse's room_prejoin_state defaults). */
export const PREJOIN_STATE_TYPES: readonly string[] = [
  'm.room.create',
  'm.room.join_rules',
  'm.room.name',
  'm.room.avatar',
  'm.room.canonical_alias',
  'm.room.encryption',
  'm.room.topic',
];

/** A stripped state event (client-server API "Stripped state") of a PDU. */
export function strippedOf(pdu: JsonObject): JsonObject {
  return { content: isJsonObject(pdu.content) ? pdu.content : {}, sender: pdu.sender ?? '', state_key: pdu.state_key ?? '', type: pdu.type ?? '' };
}

/** Joins JSON texts into the text of a JSON array, without parsing them again. */
export function jsonArrayText(texts: readonly string[]): string {
  return `[${texts.join(',')}]`;
}

/**
 * The exact text of the value of a top-level member of a JSON object text (already parsed once,
 * so well-formed), or undefined. The last occurrence wins, as JSON.parse keeps it.
 */
export function topLevelMemberText(text: string, key: string): string | undefined {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const skipString = () => {
    i++;
    while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
  };
  const skipValue = () => {
    const c = text[i];
    if (c === '"') return skipString();
    if (c === '{' || c === '[') {
      let depth = 0;
      while (i < n) {
        const d = text[i];
        if (d === '"') {
          skipString();
          continue;
        }
        if (d === '{' || d === '[') depth++;
        else if (d === '}' || d === ']') {
          depth--;
          if (depth === 0) {
            i++;
            return;
          }
        }
        i++;
      }
      return;
    }
    while (i < n && text[i] !== ',' && text[i] !== '}' && text[i] !== ']' && !/\s/.test(text[i]!)) i++;
  };
  ws();
  if (text[i] !== '{') return undefined;
  i++;
  let found: string | undefined;
  for (;;) {
    ws();
    if (i >= n || text[i] === '}') return found;
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] !== '"') return undefined;
    const keyStart = i;
    skipString();
    let k: string;
    try {
      k = JSON.parse(text.slice(keyStart, i)) as string;
    } catch {
      return undefined;
    }
    ws();
    if (text[i] !== ':') return undefined;
    i++;
    ws();
    const start = i;
    skipValue();
    if (k === key) found = text.slice(start, i);
  }
}

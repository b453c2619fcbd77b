// Reads of a room's current state that the membership handshakes and queries need: which servers
// and which of our users are joined, the state events of some types, the auth events an event lists,
// and the stored PDU texts of events (served to other servers as they were received or built).
import { authIdsOf } from '../../core/events/auth-order.js';
import type { RoomEvent } from '../../core/events/event.js';
import type { RoomVersion } from '../../core/events/room-versions.js';
import type { JsonObject } from '../../core/json/types.js';
import type { Store } from '../../store/index.js';

export class RoomReads {
  private readonly q;

  constructor(readonly store: Store) {
    const db = store.db;
    this.q = {
      joinedServers: db
        .prepare<[number], string>(
          `SELECT DISTINCT substr(user_id, instr(user_id, ':') + 1) FROM room_memberships WHERE room_nid = ? AND membership = 'join'`,
        )
        .pluck(),
      joinedOn: db
        .prepare<[number, string], string>(
          `SELECT user_id FROM room_memberships WHERE room_nid = ? AND membership = 'join' AND substr(user_id, instr(user_id, ':') + 1) = ?
           ORDER BY user_id`,
        )
        .pluck(),
      anyJoinedOn: db
        .prepare<[number, string], number>(
          `SELECT 1 FROM room_memberships WHERE room_nid = ? AND membership = 'join' AND substr(user_id, instr(user_id, ':') + 1) = ? LIMIT 1`,
        )
        .pluck(),
      joinedCount: db.prepare<[number], number>("SELECT COUNT(*) FROM room_memberships WHERE room_nid = ? AND membership = 'join'").pluck(),
    };
  }

  /** The room, when this server holds its current state. */
  roomWithState(roomId: string): { nid: number; version: RoomVersion } | undefined {
    const room = this.store.core.room(roomId);
    if (!room || room.currentStateGroup === null) return undefined;
    return { nid: room.nid, version: room.version };
  }

  /** Servers with a joined member now. */
  joinedServers(roomId: string): string[] {
    const room = this.store.core.room(roomId);
    return room ? this.q.joinedServers.all(room.nid) : [];
  }

  /** Joined members of the room on `server`, sorted. */
  joinedUsersOn(roomId: string, server: string): string[] {
    const room = this.store.core.room(roomId);
    return room ? this.q.joinedOn.all(room.nid, server) : [];
  }

  isServerJoined(roomId: string, server: string): boolean {
    const room = this.store.core.room(roomId);
    return room ? this.q.anyJoinedOn.get(room.nid, server) !== undefined : false;
  }

  joinedCount(roomId: string): number {
    const room = this.store.core.room(roomId);
    return room ? (this.q.joinedCount.get(room.nid) ?? 0) : 0;
  }

  /** A current state event, if any. */
  async stateEvent(roomId: string, type: string, stateKey = ''): Promise<RoomEvent | undefined> {
    return (await this.store.getCurrentStateEvent(roomId, type, stateKey))?.event;
  }

  async stateContent(roomId: string, type: string, stateKey = ''): Promise<JsonObject | undefined> {
    return (await this.stateEvent(roomId, type, stateKey))?.content;
  }

  /** The stored auth events of a PDU (the v12 create event included); unknown ones are left out. */
  authEventsOf(pdu: JsonObject, version: RoomVersion): RoomEvent[] {
    const out: RoomEvent[] = [];
    for (const id of authIdsOf(pdu, version)) {
      const ev = this.store.core.eventById(id);
      if (ev) out.push(ev);
    }
    return out;
  }

  /** The stored PDU texts of these events (unknown ones left out), in order. */
  pduTexts(eventIds: Iterable<string>): string[] {
    const core = this.store.core;
    const out: string[] = [];
    for (const id of eventIds) {
      const nid = core.ids.findEventNid(id);
      if (nid === undefined) continue;
      const text = core.eventJsonText(nid);
      if (text !== undefined) out.push(text);
    }
    return out;
  }

  /** The PDU texts of the current state events of these types (the prejoin state), plus `extra` events. */
  async prejoinStateTexts(roomId: string, types: readonly string[], extra: readonly string[] = []): Promise<string[]> {
    const events = await this.store.getCurrentStateEvents(roomId, types);
    const ids = events.map((e) => e.eventId);
    for (const id of extra) if (!ids.includes(id)) ids.push(id);
    return this.pduTexts(ids);
  }
}

// Which servers are in a room (have a joined member in its current state), cached per room until
// its current state changes: the federation endpoints' "is the origin in the room" check, /send's
// "are we in the room" check, and the servers backfill asks.
import { createLru } from '../../core/lru.js';
import { serverNameOf } from '../../core/ids.js';
import type { Store } from '../../store/index.js';

interface Entry {
  readonly group: number | null;
  /** Joined members per server. */
  readonly servers: ReadonlyMap<string, number>;
}

export class RoomServers {
  private readonly cache = createLru<number, Entry>(10_000);
  private readonly joined;

  constructor(private readonly store: Store) {
    this.joined = store.db
      .prepare<[number], string>("SELECT user_id FROM room_memberships WHERE room_nid = ? AND membership = 'join'")
      .pluck();
  }

  /** Joined member counts per server in the room's current state (empty for an unknown room). */
  joinedServers(roomId: string): ReadonlyMap<string, number> {
    const room = this.store.core.room(roomId);
    if (!room) return new Map();
    const hit = this.cache.get(room.nid);
    if (hit && hit.group === room.currentStateGroup) return hit.servers;
    const servers = new Map<string, number>();
    for (const userId of this.joined.iterate(room.nid)) {
      const server = serverNameOf(userId);
      if (server !== undefined) servers.set(server, (servers.get(server) ?? 0) + 1);
    }
    this.cache.set(room.nid, { group: room.currentStateGroup, servers });
    return servers;
  }

  /** Whether `server` has a joined member in the room now. */
  isJoined(roomId: string, server: string): boolean {
    return (this.joinedServers(roomId).get(server) ?? 0) > 0;
  }
}

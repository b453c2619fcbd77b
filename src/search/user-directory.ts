// The user directory (client-server "User directory"): an indexed table of searchable users, kept
// from room state by a derived writer (remote users, public rooms) and from the users tables by
// triggers (local users; migration 0701), and the search over it.
import { MatrixError } from '../errors.js';
import { isJsonObject, type JsonObject } from '../core/json/types.js';
import { serverNameOf } from '../core/ids.js';
import type { PersistedEventInfo } from '../store/event-store.js';
import type { Database, Store } from '../store/index.js';
import { prefixWordsQuery } from './query.js';

export interface UserDirectoryOptions {
  readonly db: Database;
  /**
   * Synapse `user_directory.search_all_users`: when false (the default), results hold only users who
   * share a room with the requester or are joined to a public room (join_rules public or history
   * world_readable); when true, every user this server knows of.
   */
  readonly searchAllUsers?: boolean;
}

export interface UserDirectoryResult {
  results: { user_id: string; display_name?: string; avatar_url?: string }[];
  limited: boolean;
}

export interface UserDirectoryService {
  /** POST /user_directory/search: `body` is the request body ({search_term, limit}). */
  search(requesterUserId: string, body: unknown): Promise<UserDirectoryResult>;
}

/** Synapse's default `limit`. */
export const DEFAULT_DIRECTORY_LIMIT = 10;
/** Largest `limit` honoured. */
export const MAX_DIRECTORY_LIMIT = 1000;

const MEMBER = 'm.room.member';
const JOIN_RULES = 'm.room.join_rules';
const HISTORY_VISIBILITY = 'm.room.history_visibility';

function stringOrNull(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/**
 * Installs the derived writer (once per store, where the store is built). It reads the current-state
 * changes the event caused (current_state_delta_stream at its stream position), so a state reached
 * by state resolution is followed as well as a plain state event.
 */
export function installUserDirectory(store: Store, serverName: string): void {
  const core = store.core;
  const db = store.db;
  const q = {
    deltas: db.prepare<[number, number], { state_key_nid: number; event_nid: number | null }>(
      'SELECT state_key_nid, event_nid FROM current_state_delta_stream WHERE stream_ordering = ? AND room_nid = ?',
    ),
    currentEvent: db.prepare<[number, number], number>(
      'SELECT event_nid FROM current_state WHERE room_nid = ? AND state_key_nid = ?',
    ).pluck(),
    stillJoined: db.prepare<[string], number>(
      "SELECT 1 FROM room_memberships WHERE user_id = ? AND membership = 'join' LIMIT 1",
    ).pluck(),
    upsertRemote: db.prepare<[string, string | null, string | null]>(
      `INSERT INTO user_directory (user_id, display_name, avatar_url, is_local) VALUES (?, ?, ?, 0)
       ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name, avatar_url = excluded.avatar_url
       WHERE user_directory.is_local = 0`,
    ),
    deleteRemote: db.prepare<[string]>('DELETE FROM user_directory WHERE user_id = ? AND is_local = 0'),
    addPublic: db.prepare<[number]>('INSERT OR IGNORE INTO user_directory_public_rooms (room_nid) VALUES (?)'),
    removePublic: db.prepare<[number]>('DELETE FROM user_directory_public_rooms WHERE room_nid = ?'),
  };

  const contentOf = (roomNid: number, type: string): JsonObject | undefined => {
    const key = core.ids.findStateKeyNid(type, '');
    if (key === undefined) return undefined;
    const nid = q.currentEvent.get(roomNid, key);
    return nid === undefined ? undefined : core.event(nid)?.content;
  };

  core.addDerivedWriter((info: PersistedEventInfo) => {
    if (info.outlier || info.streamOrdering === null) return;
    let publicnessChanged = false;
    for (const d of q.deltas.all(info.streamOrdering, info.roomNid)) {
      const tuple = core.ids.stateTuple(d.state_key_nid);
      const sep = tuple.indexOf('\u0000');
      const type = tuple.slice(0, sep);
      const stateKey = tuple.slice(sep + 1);
      if (type === MEMBER) {
        // Local users' rows follow their global profile (triggers), not per-room member events.
        if (serverNameOf(stateKey) === serverName) continue;
        const ev = d.event_nid === null ? undefined : d.event_nid === info.eventNid ? info.event : core.event(d.event_nid);
        if (ev && ev.content.membership === 'join') {
          q.upsertRemote.run(stateKey, stringOrNull(ev.content.displayname), stringOrNull(ev.content.avatar_url));
        } else if (q.stillJoined.get(stateKey) === undefined) {
          q.deleteRemote.run(stateKey);
        }
      } else if (stateKey === '' && (type === JOIN_RULES || type === HISTORY_VISIBILITY)) {
        publicnessChanged = true;
      }
    }
    if (publicnessChanged) {
      const isPublic =
        contentOf(info.roomNid, JOIN_RULES)?.join_rule === 'public' ||
        contentOf(info.roomNid, HISTORY_VISIBILITY)?.history_visibility === 'world_readable';
      if (isPublic) q.addPublic.run(info.roomNid);
      else q.removePublic.run(info.roomNid);
    }
  });
}

interface DirectoryRow {
  user_id: string;
  display_name: string | null;
  avatar_url: string | null;
}

export function createUserDirectory(opts: UserDirectoryOptions): UserDirectoryService {
  const db = opts.db;
  const searchAll = opts.searchAllUsers ?? false;
  // Ranking: FTS5 bm25 (lower is better), then local users, then users with a display name.
  const order = 'ORDER BY bm25(user_directory_search) ASC, d.is_local DESC, d.display_name IS NULL, d.display_name, d.user_id';
  const visibleSql = `
        EXISTS (SELECT 1 FROM room_memberships m JOIN user_directory_public_rooms p ON p.room_nid = m.room_nid
                WHERE m.user_id = d.user_id AND m.membership = 'join')
     OR EXISTS (SELECT 1 FROM room_memberships a JOIN room_memberships b
                  ON b.room_nid = a.room_nid AND b.user_id = @me AND b.membership = 'join'
                WHERE a.user_id = d.user_id AND a.membership = 'join')`;
  const q = {
    all: db.prepare<{ match: string; limit: number }, DirectoryRow>(
      `SELECT d.user_id, d.display_name, d.avatar_url FROM user_directory_search s JOIN user_directory d ON d.id = s.rowid
       WHERE user_directory_search MATCH @match ${order} LIMIT @limit`,
    ),
    visible: db.prepare<{ match: string; limit: number; me: string }, DirectoryRow>(
      `SELECT d.user_id, d.display_name, d.avatar_url FROM user_directory_search s JOIN user_directory d ON d.id = s.rowid
       WHERE user_directory_search MATCH @match AND (${visibleSql}) ${order} LIMIT @limit`,
    ),
  };

  return {
    async search(me, body) {
      if (!isJsonObject(body)) throw new MatrixError('M_NOT_JSON', 'Content must be a JSON object');
      const term = body.search_term;
      if (term === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing search_term');
      if (typeof term !== 'string') throw new MatrixError('M_BAD_JSON', 'search_term must be a string');
      let limit = DEFAULT_DIRECTORY_LIMIT;
      if (body.limit !== undefined) {
        if (typeof body.limit !== 'number' || !Number.isSafeInteger(body.limit) || body.limit < 0) {
          throw new MatrixError('M_BAD_JSON', 'limit must be a non-negative integer');
        }
        limit = Math.min(body.limit, MAX_DIRECTORY_LIMIT);
      }
      const match = prefixWordsQuery(term);
      if (match === null || limit === 0) return { results: [], limited: false };
      const rows = searchAll ? q.all.all({ match, limit: limit + 1 }) : q.visible.all({ match, limit: limit + 1, me });
      const limited = rows.length > limit;
      return {
        results: rows.slice(0, limit).map((r) => ({
          user_id: r.user_id,
          ...(r.display_name !== null ? { display_name: r.display_name } : {}),
          ...(r.avatar_url !== null ? { avatar_url: r.avatar_url } : {}),
        })),
        limited,
      };
    },
  };
}

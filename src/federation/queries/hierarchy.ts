// Room summaries and space hierarchies (client-server API "Spaces", GET /hierarchy; server-server
// API GET /hierarchy): the summary of a room we hold, its m.space.child events, who may see it (a
// user of ours, or another server), the spec's ordering of children, and the walk of a space tree
// across local rooms and other servers' answers for the client endpoint, with pagination sessions.
import { randomBytes } from 'node:crypto';
import { isValidRoomId } from '../../core/ids.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import type { Store } from '../../store/index.js';
import { RoomReads } from '../membership/reads.js';

const SUMMARY_TYPES = [
  'm.room.create',
  'm.room.name',
  'm.room.topic',
  'm.room.canonical_alias',
  'm.room.avatar',
  'm.room.join_rules',
  'm.room.history_visibility',
  'm.room.guest_access',
  'm.room.encryption',
];

/** A child of a space: its m.space.child event in stripped form with origin_server_ts. */
export interface SpaceChild {
  readonly roomId: string;
  readonly via: string[];
  readonly suggested: boolean;
  readonly order: string | undefined;
  readonly originServerTs: number;
  readonly stripped: JsonObject;
}

/** Spec m.space.child: a valid `order` is at most 50 characters of U+0020 to U+007E. */
function validOrder(v: unknown): string | undefined {
  return typeof v === 'string' && v.length <= 50 && /^[\x20-\x7E]*$/.test(v) ? v : undefined;
}

/** Spec "Ordering of children within a space": by `order` (those with one first), then origin_server_ts, then room ID. */
export function sortChildren<T extends { roomId: string; order: string | undefined; originServerTs: number }>(children: T[]): T[] {
  return children.sort((a, b) => {
    if (a.order !== undefined && b.order === undefined) return -1;
    if (a.order === undefined && b.order !== undefined) return 1;
    if (a.order !== undefined && b.order !== undefined && a.order !== b.order) return a.order < b.order ? -1 : 1;
    if (a.originServerTs !== b.originServerTs) return a.originServerTs - b.originServerTs;
    return a.roomId < b.roomId ? -1 : a.roomId > b.roomId ? 1 : 0;
  });
}

/** Children from m.space.child stripped states (ours or another server's children_state). */
export function childrenFromState(states: readonly JsonObject[]): SpaceChild[] {
  const out: SpaceChild[] = [];
  for (const s of states) {
    if (s.type !== 'm.space.child' || typeof s.state_key !== 'string' || !isValidRoomId(s.state_key)) continue;
    const content = isJsonObject(s.content) ? s.content : {};
    // A child without a non-empty `via` is not a child (spec m.space.child).
    const via = Array.isArray(content.via) ? content.via.filter((v): v is string => typeof v === 'string') : [];
    if (via.length === 0) continue;
    out.push({
      roomId: s.state_key,
      via,
      suggested: content.suggested === true,
      order: validOrder(content.order),
      originServerTs: typeof s.origin_server_ts === 'number' ? s.origin_server_ts : 0,
      stripped: s,
    });
  }
  return sortChildren(out);
}

export class RoomSummaries {
  readonly reads: RoomReads;

  constructor(readonly store: Store) {
    this.reads = new RoomReads(store);
  }

  /** The summary of a room we hold (spec room_summary, with room_type, room_version, encryption, allowed_room_ids). */
  async summary(roomId: string): Promise<JsonObject | undefined> {
    const room = this.reads.roomWithState(roomId);
    if (!room) return undefined;
    const events = await this.store.getCurrentStateEvents(roomId, SUMMARY_TYPES);
    const byType = new Map(events.filter((e) => e.event.stateKey === '').map((e) => [e.event.type, e.event.content]));
    const out: JsonObject = {
      room_id: roomId,
      num_joined_members: this.reads.joinedCount(roomId),
      world_readable: byType.get('m.room.history_visibility')?.history_visibility === 'world_readable',
      guest_can_join: byType.get('m.room.guest_access')?.guest_access === 'can_join',
      room_version: room.version.id,
    };
    const str = (type: string, key: string) => {
      const v = byType.get(type)?.[key];
      return typeof v === 'string' && v !== '' ? v : undefined;
    };
    const set = (key: string, v: string | undefined) => {
      if (v !== undefined) out[key] = v;
    };
    set('name', str('m.room.name', 'name'));
    set('topic', str('m.room.topic', 'topic'));
    set('canonical_alias', str('m.room.canonical_alias', 'alias'));
    set('avatar_url', str('m.room.avatar', 'url'));
    set('join_rule', str('m.room.join_rules', 'join_rule') ?? 'invite');
    set('room_type', str('m.room.create', 'type'));
    set('encryption', str('m.room.encryption', 'algorithm'));
    const rule = out.join_rule;
    if (rule === 'restricted' || rule === 'knock_restricted') out.allowed_room_ids = allowedRoomIds(byType.get('m.room.join_rules'));
    return out;
  }

  /** The room's m.space.child events, in stripped form with origin_server_ts (children_state). */
  async childrenState(roomId: string): Promise<JsonObject[]> {
    const events = await this.store.getCurrentStateEvents(roomId, ['m.space.child']);
    const out: JsonObject[] = [];
    for (const e of events) {
      const content = e.event.content;
      if (!Array.isArray(content.via) || content.via.length === 0) continue;
      out.push({ type: e.event.type, state_key: e.event.stateKey ?? '', content, sender: e.event.sender, origin_server_ts: e.event.originServerTs });
    }
    return out;
  }

  /**
   * Whether another server may see a room's summary (Synapse's rule): rooms anyone may join, knock
   * on or read; restricted rooms (the asking server checks `allowed_room_ids` for its user); rooms
   * the server has a member in.
   */
  async visibleToServer(roomId: string, server: string, summary: JsonObject): Promise<boolean> {
    if (summary.world_readable === true) return true;
    const rule = summary.join_rule;
    if (rule === 'public' || rule === 'knock' || rule === 'knock_restricted' || rule === 'restricted') return true;
    return this.reads.isServerJoined(roomId, server);
  }

  /** Whether a user of ours may see a room's summary: member or invited, or a room they could join, knock on or read. */
  async visibleToUser(roomId: string, userId: string, summary: JsonObject): Promise<boolean> {
    const m = (await this.store.getMembership(roomId, userId))?.membership;
    if (m === 'join' || m === 'invite') return true;
    return this.summaryVisibleToUser(summary, userId);
  }

  /** The same from a summary alone (another server's rooms): the allowed rooms are checked among ours. */
  async summaryVisibleToUser(summary: JsonObject, userId: string): Promise<boolean> {
    if (summary.world_readable === true) return true;
    const rule = summary.join_rule;
    if (rule === 'public' || rule === 'knock' || rule === 'knock_restricted') return true;
    if (rule === 'restricted' && Array.isArray(summary.allowed_room_ids)) {
      for (const r of summary.allowed_room_ids) {
        if (typeof r === 'string' && (await this.store.getMembership(r, userId))?.membership === 'join') return true;
      }
    }
    return false;
  }
}

function allowedRoomIds(rules: JsonObject | undefined): string[] {
  const allow = rules && Array.isArray(rules.allow) ? rules.allow : [];
  const out: string[] = [];
  for (const a of allow) if (isJsonObject(a) && a.type === 'm.room_membership' && typeof a.room_id === 'string') out.push(a.room_id);
  return out;
}

// ---- the client endpoint's walk ----

/** Another server's /hierarchy answer for a room (the federation client's hook). */
export type RemoteHierarchy = (server: string, roomId: string, suggestedOnly: boolean) => Promise<JsonObject>;

interface QueueEntry {
  readonly roomId: string;
  readonly via: readonly string[];
  readonly depth: number;
}

interface Session {
  readonly key: string;
  readonly queue: QueueEntry[];
  readonly processed: Set<string>;
  expires: number;
}

export interface HierarchyRequest {
  readonly userId: string;
  readonly roomId: string;
  readonly suggestedOnly: boolean;
  readonly maxDepth: number | undefined;
  readonly limit: number;
  readonly from: string | undefined;
}

const SESSION_TTL_MS = 5 * 60_000;
const MAX_SESSIONS = 1_000;
export const MAX_HIERARCHY_LIMIT = 100;

/**
 * GET /_matrix/client/v1/rooms/{roomId}/hierarchy: a breadth-first walk from the space (which the
 * user must be able to see: 403 otherwise), through rooms we hold and, for the others, the
 * /hierarchy answers of the servers named in the m.space.child `via`. Pages continue a session kept
 * here for five minutes (as Synapse), so a page never repeats or skips rooms.
 */
export class HierarchyWalker {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly summaries: RoomSummaries,
    private readonly remote: RemoteHierarchy | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  async walk(req: HierarchyRequest): Promise<JsonObject> {
    const key = JSON.stringify([req.userId, req.roomId, req.suggestedOnly, req.maxDepth ?? null]);
    let session: Session;
    if (req.from !== undefined) {
      this.prune();
      const s = this.sessions.get(req.from);
      if (!s || s.key !== key) throw new MatrixError('M_INVALID_PARAM', 'Unknown pagination token', 400);
      this.sessions.delete(req.from);
      session = s;
    } else {
      const root = await this.summaries.summary(req.roomId);
      if (!root || !(await this.summaries.visibleToUser(req.roomId, req.userId, root))) {
        throw new MatrixError('M_FORBIDDEN', `User ${req.userId} not in room ${req.roomId}, and room previews are disabled`, 403);
      }
      session = { key, queue: [{ roomId: req.roomId, via: [], depth: 0 }], processed: new Set(), expires: 0 };
    }
    const rooms: JsonObject[] = [];
    /** Summaries of children learnt from another server's answer, for rooms not asked about yet. */
    const learnt = new Map<string, JsonObject>();
    while (session.queue.length > 0 && rooms.length < req.limit) {
      const entry = session.queue.shift()!;
      if (session.processed.has(entry.roomId)) continue;
      session.processed.add(entry.roomId);
      const found = await this.roomEntry(entry, req, learnt);
      if (!found) continue;
      rooms.push({ ...found.summary, children_state: found.childrenState });
      if (req.maxDepth !== undefined && entry.depth >= req.maxDepth) continue;
      for (const c of childrenFromState(found.childrenState)) {
        if (req.suggestedOnly && !c.suggested) continue;
        if (!session.processed.has(c.roomId)) session.queue.push({ roomId: c.roomId, via: c.via, depth: entry.depth + 1 });
      }
    }
    const out: JsonObject = { rooms };
    if (session.queue.some((e) => !session.processed.has(e.roomId))) {
      const token = randomBytes(12).toString('base64url');
      session.expires = this.now() + SESSION_TTL_MS;
      this.sessions.set(token, session);
      if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
      out.next_batch = token;
    }
    return out;
  }

  private prune(): void {
    const t = this.now();
    for (const [k, s] of this.sessions) if (s.expires < t) this.sessions.delete(k);
  }

  /** One room of the walk: ours, or another server's; undefined when the user may not see it. */
  private async roomEntry(entry: QueueEntry, req: HierarchyRequest, learnt: Map<string, JsonObject>): Promise<{ summary: JsonObject; childrenState: JsonObject[] } | undefined> {
    const local = await this.summaries.summary(entry.roomId);
    if (local) {
      if (!(await this.summaries.visibleToUser(entry.roomId, req.userId, local))) return undefined;
      return { summary: local, childrenState: await this.summaries.childrenState(entry.roomId) };
    }
    if (!this.remote) return undefined;
    for (const server of entry.via) {
      let answer: JsonObject;
      try {
        answer = await this.remote(server, entry.roomId, req.suggestedOnly);
      } catch {
        continue;
      }
      const room = answer.room;
      if (!isJsonObject(room) || room.room_id !== entry.roomId) continue;
      if (Array.isArray(answer.children)) {
        for (const c of answer.children) if (isJsonObject(c) && typeof c.room_id === 'string') learnt.set(c.room_id, c);
      }
      if (!(await this.summaries.summaryVisibleToUser(room, req.userId))) return undefined;
      const childrenState = Array.isArray(room.children_state) ? room.children_state.filter(isJsonObject) : [];
      const summary: JsonObject = { ...room };
      delete summary.children_state;
      return { summary, childrenState };
    }
    // No server answered about the room itself; a summary from its parent's answer still describes it.
    const known = learnt.get(entry.roomId);
    if (known && (await this.summaries.summaryVisibleToUser(known, req.userId))) {
      const summary: JsonObject = { ...known };
      delete summary.children_state;
      return { summary, childrenState: [] };
    }
    return undefined;
  }

  /** GET /_matrix/federation/v1/hierarchy/{roomId} for `origin`: the room, its children we hold, and those the origin may not see. */
  async forServer(origin: string, roomId: string, suggestedOnly: boolean): Promise<JsonObject> {
    const root = await this.summaries.summary(roomId);
    if (!root || !(await this.summaries.visibleToServer(roomId, origin, root))) throw new MatrixError('M_NOT_FOUND', 'Unknown room', 404);
    const childrenState = await this.summaries.childrenState(roomId);
    const children: JsonObject[] = [];
    const inaccessible: string[] = [];
    for (const c of childrenFromState(childrenState)) {
      if (suggestedOnly && !c.suggested) continue;
      const s = await this.summaries.summary(c.roomId);
      if (!s) continue;
      if (await this.summaries.visibleToServer(c.roomId, origin, s)) children.push(s);
      else inaccessible.push(c.roomId);
    }
    return { room: { ...root, children_state: childrenState }, children, inaccessible_children: inaccessible };
  }
}

// The relations index (spec client-server "Forming relationships between events"): a derived writer
// indexing content["m.relates_to"] of accepted events and the redactions that apply to stored events,
// the reads behind /relations and /threads, checks on local relations, and bundled aggregations.
import { MatrixError } from '../errors.js';
import type { RoomEvent } from '../core/events/event.js';
import type { RoomVersion } from '../core/events/room-versions.js';
import { isJsonObject, type JsonObject } from '../core/json/types.js';
import { serverNameOf } from '../core/ids.js';
import { namedPowerLevel, userPowerLevel } from '../core/auth/power-levels.js';
import type { Statement } from 'better-sqlite3';
import type { Database } from '../store/db.js';
import type { PersistedEventInfo, Store, TopologicalPosition } from '../store/index.js';

export const REL_REPLACE = 'm.replace';
export const REL_THREAD = 'm.thread';
export const REL_ANNOTATION = 'm.annotation';
export const REL_REFERENCE = 'm.reference';

/** Longest annotation key accepted from local clients (as Synapse). */
export const MAX_ANNOTATION_KEY_LENGTH = 500;
/** How many levels of relations `recurse` follows (the spec asks for at least 3). */
export const RELATIONS_RECURSION_DEPTH = 3;

const REDACTION = 'm.room.redaction';

/** A well-formed relation of an event. */
export interface Relation {
  readonly relType: string;
  readonly parentId: string;
  /** m.annotation `key`, when a string. */
  readonly key?: string;
}

/**
 * The relation in an event's content: `m.relates_to` with string `rel_type` and `event_id`.
 * Anything else is no relation ("Relationships which don't match the schema ... are simply
 * ignored"); rich replies (`m.in_reply_to` without rel_type) are not relations here.
 */
export function relationOf(content: JsonObject): Relation | undefined {
  const rel = content['m.relates_to'];
  if (!isJsonObject(rel)) return undefined;
  const relType = rel.rel_type;
  const parentId = rel.event_id;
  if (typeof relType !== 'string' || relType === '' || typeof parentId !== 'string' || parentId === '') return undefined;
  return typeof rel.key === 'string' ? { relType, parentId, key: rel.key } : { relType, parentId };
}

/** `(eventIds, userId) -> Map<eventId, m.relations object>` (the formatter's AggregationsLookup). */
export type AggregationsFn = (eventIds: string[], userId: string) => Map<string, JsonObject>;

export interface ChildrenQuery {
  /** Only children with this rel_type / of this event type (after recursion, on each child's own relation). */
  readonly relType?: string | undefined;
  readonly eventType?: string | undefined;
  /** 'b' newest first (the default of the API), 'f' oldest first. */
  readonly dir: 'f' | 'b';
  readonly limit: number;
  /** Boundary where the page starts: children below it (dir b) or at or above it (dir f). */
  readonly from?: TopologicalPosition | undefined;
  /** Boundary where pagination stops (the other side of it is left out). */
  readonly to?: TopologicalPosition | undefined;
  /** Follow relations of relations up to RELATIONS_RECURSION_DEPTH levels. */
  readonly recurse?: boolean;
  /** Leave out m.replace children (the parent is redacted: edits would leak its content). */
  readonly excludeEdits?: boolean;
}

export interface ChildrenPage {
  readonly eventIds: string[];
  /** Boundary past the last child returned, when more may follow. */
  readonly next?: TopologicalPosition;
}

export interface ThreadsQuery {
  readonly userId: string;
  /** Only threads the user took part in (sent the root or a thread event). */
  readonly participatedOnly: boolean;
  readonly limit: number;
  /** Exclusive bound: threads whose latest event is before this position. */
  readonly from?: TopologicalPosition | undefined;
}

export interface ThreadsPage {
  /** Thread roots (stored, accepted), most recently active first. */
  readonly rootIds: string[];
  /** Position of the last thread's latest event, when more may follow. */
  readonly next?: TopologicalPosition;
}

export interface RelationsService {
  /** Bundled aggregations (spec "Aggregations of child events"): m.replace, m.thread, m.reference. */
  readonly aggregations: AggregationsFn;
  /**
   * Checks a relation a local client is about to send (Synapse's checks): the parent is in the room
   * (or at least known as a parent), an annotation has a key of at most 500 characters and is no
   * duplicate (400 M_DUPLICATE_ANNOTATION), a thread does not start at an event with a relation.
   */
  validateLocalRelation(roomId: string, sender: string, type: string, content: JsonObject): void;
  /** Children of an event in its room (GET /relations). */
  children(roomId: string, parentId: string, q: ChildrenQuery): ChildrenPage;
  /** Thread roots of a room (GET /threads). */
  threads(roomId: string, q: ThreadsQuery): ThreadsPage;
  /** The events among these that an applying redaction has redacted. */
  redactedAmong(eventIds: readonly string[]): Set<string>;
}

export interface RelationsDeps {
  readonly store: Store;
  /** For `unsigned.age` of bundled events. */
  readonly now?: () => number;
}

const servicesByStore = new WeakMap<Store, RelationsService>();

/**
 * The relations service of a store: one per store (repeated calls return the first one), since it
 * registers its derived writer on the store when built.
 */
export function createRelationsService(deps: RelationsDeps): RelationsService {
  let s = servicesByStore.get(deps.store);
  if (!s) servicesByStore.set(deps.store, (s = new SqliteRelations(deps)));
  return s;
}

interface SummaryRow {
  parent_nid: number;
  rel_type: string;
  n: number;
}

class SqliteRelations implements RelationsService {
  private readonly db: Database;
  private readonly core: Store['core'];
  private readonly now: () => number;
  private readonly q;
  private readonly childQueries = new Map<string, Statement<unknown[], unknown>>();

  constructor(deps: RelationsDeps) {
    this.db = deps.store.db;
    this.core = deps.store.core;
    this.now = deps.now ?? Date.now;
    const db = this.db;
    this.q = {
      insert: db.prepare(
        `INSERT OR REPLACE INTO event_relations (event_nid, room_nid, parent_nid, rel_type, type, sender, aggregation_key,
           is_state, has_new_content, depth, stream_ordering, origin_server_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      relationOfChild: db.prepare<[number], { parent_nid: number; rel_type: string; room_nid: number }>(
        'SELECT parent_nid, rel_type, room_nid FROM event_relations WHERE event_nid = ?',
      ),
      deleteChild: db.prepare<[number]>('DELETE FROM event_relations WHERE event_nid = ?'),
      threadLatest: db.prepare<[number, number], { latest_depth: number; latest_stream: number }>(
        'SELECT latest_depth, latest_stream FROM room_threads WHERE room_nid = ? AND root_nid = ?',
      ),
      upsertThread: db.prepare<[number, number, number, number, number]>(
        `INSERT INTO room_threads (room_nid, root_nid, latest_nid, latest_depth, latest_stream) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (room_nid, root_nid) DO UPDATE SET latest_nid = excluded.latest_nid,
           latest_depth = excluded.latest_depth, latest_stream = excluded.latest_stream`,
      ),
      deleteThread: db.prepare<[number, number]>('DELETE FROM room_threads WHERE room_nid = ? AND root_nid = ?'),
      newestThreadChild: db.prepare<[number, number], { event_nid: number; depth: number; stream_ordering: number }>(
        `SELECT event_nid, depth, stream_ordering FROM event_relations WHERE parent_nid = ? AND rel_type = 'm.thread' AND room_nid = ?
         ORDER BY depth DESC, stream_ordering DESC LIMIT 1`,
      ),
      redactionsOf: db.prepare<[number], number>(
        `SELECT event_nid FROM events WHERE redacts_nid = ? AND type = 'm.room.redaction'
           AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0 ORDER BY stream_ordering`,
      ).pluck(),
      markRedacted: db.prepare<[number, number]>('INSERT OR IGNORE INTO redacted_events (event_nid, redaction_nid) VALUES (?, ?)'),
      redactedAmong: db.prepare<[string], number>(
        'SELECT event_nid FROM redacted_events WHERE event_nid IN (SELECT value FROM json_each(?))',
      ).pluck(),
      isRedacted: db.prepare<[number], number>('SELECT 1 FROM redacted_events WHERE event_nid = ?').pluck(),
      anyChildOf: db.prepare<[number], number>('SELECT 1 FROM event_relations WHERE parent_nid = ? LIMIT 1').pluck(),
      hasRelation: db.prepare<[number], number>('SELECT 1 FROM event_relations WHERE event_nid = ?').pluck(),
      duplicateAnnotation: db.prepare<[number, string, string, string], number>(
        `SELECT 1 FROM event_relations WHERE parent_nid = ? AND type = ? AND aggregation_key = ? AND sender = ?
           AND rel_type = 'm.annotation' LIMIT 1`,
      ).pluck(),
      summary: db.prepare<[string], SummaryRow>(
        `SELECT r.parent_nid, r.rel_type, COUNT(*) AS n FROM event_relations r
           JOIN events p ON p.event_nid = r.parent_nid AND p.room_nid = r.room_nid
         WHERE r.parent_nid IN (SELECT value FROM json_each(?)) AND r.rel_type IN ('m.replace', 'm.thread', 'm.reference')
         GROUP BY r.parent_nid, r.rel_type`,
      ),
      latestEdit: db.prepare<[number, number, string, string], number>(
        `SELECT r.event_nid FROM event_relations r JOIN event_ids i ON i.event_nid = r.event_nid
         WHERE r.parent_nid = ? AND r.room_nid = ? AND r.rel_type = 'm.replace' AND r.sender = ? AND r.type = ?
           AND r.is_state = 0 AND (r.has_new_content = 1 OR r.type = 'm.room.encrypted')
         ORDER BY r.origin_server_ts DESC, i.event_id DESC LIMIT 1`,
      ).pluck(),
      threadRow: db.prepare<[number, number], number>('SELECT latest_nid FROM room_threads WHERE room_nid = ? AND root_nid = ?').pluck(),
      participated: db.prepare<[number, string], number>(
        `SELECT 1 FROM event_relations WHERE parent_nid = ? AND rel_type = 'm.thread' AND sender = ? LIMIT 1`,
      ).pluck(),
      references: db.prepare<[number, number], string>(
        `SELECT i.event_id FROM event_relations r JOIN event_ids i ON i.event_nid = r.event_nid
         WHERE r.parent_nid = ? AND r.room_nid = ? AND r.rel_type = 'm.reference' ORDER BY r.depth, r.stream_ordering`,
      ).pluck(),
    };
    deps.store.core.addDerivedWriter((info) => this.onPersist(info));
  }

  // ---- the derived writer ----

  /** Inside the persist transaction of every event: index its relation and apply redactions. */
  private onPersist(info: PersistedEventInfo): void {
    if (info.outlier || info.rejectedReason !== null || info.softFailed || info.streamOrdering === null) return;
    const ev = info.event;
    if (ev.type === REDACTION && ev.redacts !== undefined) {
      const targetNid = this.core.ids.findEventNid(ev.redacts);
      const target = targetNid === undefined ? undefined : this.core.eventMeta(targetNid);
      if (target && !target.outlier && target.roomNid === info.roomNid) {
        const targetEvent = this.core.event(target.nid);
        if (targetEvent && this.redactionApplies(ev, info.stateGroupBefore, targetEvent, info.roomVersion)) {
          this.applyRedaction(target.nid, info.eventNid);
        }
      }
    }
    // A redaction may have arrived before the event (federation): then it is stored redacted.
    for (const rnid of this.q.redactionsOf.all(info.eventNid)) {
      const meta = this.core.eventMeta(rnid);
      const redaction = this.core.event(rnid);
      if (!meta || !redaction || meta.roomNid !== info.roomNid) continue;
      if (this.redactionApplies(redaction, meta.stateGroupBefore, ev, info.roomVersion)) {
        this.q.markRedacted.run(info.eventNid, rnid);
        return;
      }
    }
    const rel = relationOf(ev.content);
    if (!rel) return;
    const parentNid = this.core.ids.eventNid(rel.parentId);
    const newContent = isJsonObject(ev.content['m.new_content']);
    this.q.insert.run(
      info.eventNid, info.roomNid, parentNid, rel.relType, ev.type, ev.sender, rel.relType === REL_ANNOTATION ? (rel.key ?? null) : null,
      ev.stateKey === undefined ? 0 : 1, newContent ? 1 : 0, ev.depth, info.streamOrdering, ev.originServerTs,
    );
    if (rel.relType === REL_THREAD) {
      const cur = this.q.threadLatest.get(info.roomNid, parentNid);
      if (!cur || ev.depth > cur.latest_depth || (ev.depth === cur.latest_depth && info.streamOrdering > cur.latest_stream)) {
        this.q.upsertThread.run(info.roomNid, parentNid, info.eventNid, ev.depth, info.streamOrdering);
      }
    }
  }

  /**
   * Whether a redaction applies to its target (rooms "Handling redactions"): v1/v2 auth already
   * required the redact level or the same origin; from v3 the redaction's sender must be on the
   * target sender's server or have the redact level in the state before the redaction.
   */
  private redactionApplies(redaction: RoomEvent, stateGroupBefore: number | null, target: RoomEvent, version: RoomVersion): boolean {
    if (version.redactionDomainCheckInAuth) return true;
    const server = serverNameOf(redaction.sender);
    if (server !== undefined && server === serverNameOf(target.sender)) return true;
    if (stateGroupBefore === null) return false;
    const createKey = this.core.ids.findStateKeyNid('m.room.create', '');
    const plKey = this.core.ids.findStateKeyNid('m.room.power_levels', '');
    const keys = [createKey, plKey].filter((k): k is number => k !== undefined);
    const found = this.core.groups.lookup(stateGroupBefore, keys);
    const create = createKey === undefined ? undefined : this.eventOrUndefined(found.get(createKey));
    const pl = plKey === undefined ? undefined : this.eventOrUndefined(found.get(plKey));
    return userPowerLevel(redaction.sender, pl, create, version) >= namedPowerLevel('redact', pl, version);
  }

  private eventOrUndefined(nid: number | undefined): RoomEvent | undefined {
    return nid === undefined ? undefined : this.core.event(nid);
  }

  /** The target leaves the index; if it was its thread's latest event, the next newest takes over. */
  private applyRedaction(targetNid: number, redactionNid: number): void {
    this.q.markRedacted.run(targetNid, redactionNid);
    const row = this.q.relationOfChild.get(targetNid);
    if (!row) return;
    this.q.deleteChild.run(targetNid);
    if (row.rel_type !== REL_THREAD) return;
    const newest = this.q.newestThreadChild.get(row.parent_nid, row.room_nid);
    if (newest) this.q.upsertThread.run(row.room_nid, row.parent_nid, newest.event_nid, newest.depth, newest.stream_ordering);
    else this.q.deleteThread.run(row.room_nid, row.parent_nid);
  }

  // ---- checks on local sends ----

  validateLocalRelation(roomId: string, sender: string, type: string, content: JsonObject): void {
    const rel = relationOf(content);
    if (!rel) return;
    const parentNid = this.core.ids.findEventNid(rel.parentId);
    const parent = parentNid === undefined ? undefined : this.core.eventMeta(parentNid);
    if (parent && parent.rejectedReason === null) {
      if (this.core.roomByNid(parent.roomNid).roomId !== roomId) {
        throw new MatrixError('M_UNKNOWN', 'Relations must be in the same room', 400);
      }
    } else if (parentNid === undefined || this.q.anyChildOf.get(parentNid) === undefined) {
      // The client cannot know an event we never saw, unless others relate to it already.
      throw new MatrixError('M_UNKNOWN', "Can't send relation to unknown event", 400);
    }
    if (rel.relType === REL_ANNOTATION) {
      if (rel.key === undefined) throw new MatrixError('M_UNKNOWN', 'Missing aggregation key', 400);
      if (rel.key.length > MAX_ANNOTATION_KEY_LENGTH) throw new MatrixError('M_UNKNOWN', 'Aggregation key is too long', 400);
      // Module "Event annotations": a second identical annotation is refused unless the first was redacted.
      if (parentNid !== undefined && this.q.duplicateAnnotation.get(parentNid, type, rel.key, sender) !== undefined) {
        throw new MatrixError('M_DUPLICATE_ANNOTATION', "Can't send same reaction twice", 400);
      }
    } else if (rel.relType === REL_THREAD) {
      // Module "Threading": threads may not start at an event which itself has a relation.
      if (parentNid !== undefined && this.q.hasRelation.get(parentNid) !== undefined) {
        throw new MatrixError('M_UNKNOWN', 'Cannot start threads from an event with a relation', 400);
      }
    }
  }

  // ---- reads ----

  redactedAmong(eventIds: readonly string[]): Set<string> {
    const nids: number[] = [];
    for (const id of eventIds) {
      const n = this.core.ids.findEventNid(id);
      if (n !== undefined) nids.push(n);
    }
    const out = new Set<string>();
    if (nids.length === 0) return out;
    for (const n of this.q.redactedAmong.all(JSON.stringify(nids))) out.add(this.core.ids.eventId(n));
    return out;
  }

  children(roomId: string, parentId: string, q: ChildrenQuery): ChildrenPage {
    const room = this.core.room(roomId);
    const parentNid = this.core.ids.findEventNid(parentId);
    if (!room || parentNid === undefined || q.limit <= 0) return { eventIds: [] };
    const back = q.dir === 'b';
    const where: string[] = ['r.room_nid = ?'];
    const args: (string | number)[] = [room.nid];
    if (q.relType !== undefined) {
      where.push('r.rel_type = ?');
      args.push(q.relType);
    }
    if (q.eventType !== undefined) {
      where.push('r.type = ?');
      args.push(q.eventType);
    }
    if (q.excludeEdits) where.push("r.rel_type != 'm.replace'");
    // `from` and `to` are boundaries: the events below one, or at or above it.
    const below = (p: TopologicalPosition) => {
      where.push('(r.depth < ? OR (r.depth = ? AND r.stream_ordering < ?))');
      args.push(p.depth, p.depth, p.streamOrdering);
    };
    const atOrAbove = (p: TopologicalPosition) => {
      where.push('(r.depth > ? OR (r.depth = ? AND r.stream_ordering >= ?))');
      args.push(p.depth, p.depth, p.streamOrdering);
    };
    if (q.from) (back ? below : atOrAbove)(q.from);
    if (q.to) (back ? atOrAbove : below)(q.to);
    const order = back ? 'DESC' : 'ASC';
    const source = q.recurse
      ? `WITH RECURSIVE tree(nid, level) AS (
           SELECT event_nid, 1 FROM event_relations WHERE parent_nid = ?
           UNION SELECT c.event_nid, tree.level + 1 FROM event_relations c JOIN tree ON c.parent_nid = tree.nid
             WHERE tree.level < ${RELATIONS_RECURSION_DEPTH}
         )
         SELECT DISTINCT r.event_nid, r.depth, r.stream_ordering FROM tree JOIN event_relations r ON r.event_nid = tree.nid`
      : 'SELECT r.event_nid, r.depth, r.stream_ordering FROM event_relations r';
    const sql = `${source} WHERE ${q.recurse ? '' : 'r.parent_nid = ? AND '}${where.join(' AND ')}
      ORDER BY r.depth ${order}, r.stream_ordering ${order} LIMIT ?`;
    let stmt = this.childQueries.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<unknown[], unknown>(sql);
      this.childQueries.set(sql, stmt);
    }
    const rows = stmt.all(parentNid, ...args, q.limit + 1) as { event_nid: number; depth: number; stream_ordering: number }[];
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const eventIds = page.map((r) => this.core.ids.eventId(r.event_nid));
    if (!(rows.length > q.limit && last)) return { eventIds };
    // The boundary past the last child: below it going back, above it going forwards.
    return { eventIds, next: { depth: last.depth, streamOrdering: back ? last.stream_ordering : last.stream_ordering + 1 } };
  }

  threads(roomId: string, q: ThreadsQuery): ThreadsPage {
    const room = this.core.room(roomId);
    if (!room || q.limit <= 0) return { rootIds: [] };
    const from = q.from ?? { depth: Number.MAX_SAFE_INTEGER, streamOrdering: Number.MAX_SAFE_INTEGER };
    const participated = q.participatedOnly
      ? `AND (e.sender = ? OR EXISTS (SELECT 1 FROM event_relations c WHERE c.parent_nid = t.root_nid
             AND c.rel_type = 'm.thread' AND c.sender = ?))`
      : '';
    const sql = `SELECT t.root_nid, t.latest_depth, t.latest_stream FROM room_threads t
        JOIN events e ON e.event_nid = t.root_nid AND e.room_nid = t.room_nid
      WHERE t.room_nid = ? AND e.outlier = 0 AND e.rejected_reason IS NULL AND e.soft_failed = 0
        AND (t.latest_depth < ? OR (t.latest_depth = ? AND t.latest_stream < ?)) ${participated}
      ORDER BY t.latest_depth DESC, t.latest_stream DESC LIMIT ?`;
    let stmt = this.childQueries.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<unknown[], unknown>(sql);
      this.childQueries.set(sql, stmt);
    }
    const args: (string | number)[] = [room.nid, from.depth, from.depth, from.streamOrdering];
    if (q.participatedOnly) args.push(q.userId, q.userId);
    const rows = stmt.all(...args, q.limit + 1) as { root_nid: number; latest_depth: number; latest_stream: number }[];
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const rootIds = page.map((r) => this.core.ids.eventId(r.root_nid));
    return rows.length > q.limit && last ? { rootIds, next: { depth: last.latest_depth, streamOrdering: last.latest_stream } } : { rootIds };
  }

  // ---- bundled aggregations ----

  readonly aggregations: AggregationsFn = (eventIds, userId) => this.aggregate(eventIds, userId, true);

  /**
   * Spec "Aggregations of child events" with the per-type formats of m.replace (the most recent
   * valid edit, served whole), m.thread ({latest_event, count, current_user_participated}) and
   * m.reference ({chunk: [{event_id}]}); m.annotation is not bundled (v1.7). State events, edits
   * and annotations get no aggregations (as Synapse). One query finds which events have children;
   * only those are read further. `nested` adds the aggregations of thread latest events.
   */
  private aggregate(eventIds: readonly string[], userId: string, nested: boolean): Map<string, JsonObject> {
    const out = new Map<string, JsonObject>();
    const parents = new Map<number, { ev: RoomEvent; roomNid: number }>();
    for (const id of eventIds) {
      const nid = this.core.ids.findEventNid(id);
      const meta = nid === undefined ? undefined : this.core.eventMeta(nid);
      if (!meta || meta.stateKeyNid !== null) continue;
      const ev = this.core.event(meta.nid);
      if (!ev) continue;
      const own = relationOf(ev.content);
      if (own && (own.relType === REL_REPLACE || own.relType === REL_ANNOTATION)) continue;
      parents.set(meta.nid, { ev, roomNid: meta.roomNid });
    }
    if (parents.size === 0) return out;
    const rows = this.q.summary.all(JSON.stringify([...parents.keys()]));
    if (rows.length === 0) return out;
    const latestEvents: { parent: string; nid: number }[] = [];
    for (const row of rows) {
      const p = parents.get(row.parent_nid);
      if (!p) continue;
      let rel = out.get(p.ev.eventId);
      if (!rel) out.set(p.ev.eventId, (rel = {}));
      if (row.rel_type === REL_REPLACE) {
        // Module "Event replacements": same sender and type, no state keys, m.new_content present
        // (inside the ciphertext for encrypted edits), and the original is not itself an edit.
        // "If the original event is redacted, any m.replace relationship should not be bundled".
        if (this.q.isRedacted.get(row.parent_nid) !== undefined) continue;
        const edit = this.q.latestEdit.get(row.parent_nid, p.roomNid, p.ev.sender, p.ev.type);
        if (edit !== undefined) rel[REL_REPLACE] = this.bundledEvent(edit);
      } else if (row.rel_type === REL_THREAD) {
        const latest = this.q.threadRow.get(p.roomNid, row.parent_nid);
        if (latest === undefined) continue;
        const participated = p.ev.sender === userId || this.q.participated.get(row.parent_nid, userId) !== undefined;
        rel[REL_THREAD] = { latest_event: this.bundledEvent(latest), count: row.n, current_user_participated: participated };
        latestEvents.push({ parent: p.ev.eventId, nid: latest });
      } else if (row.rel_type === REL_REFERENCE) {
        rel[REL_REFERENCE] = { chunk: this.q.references.all(row.parent_nid, p.roomNid).map((event_id) => ({ event_id })) };
      }
    }
    if (nested && latestEvents.length > 0) {
      // "child events of the latest_event should themselves be aggregated" (one level: thread
      // events cannot be thread roots, so this cannot loop).
      const inner = this.aggregate(latestEvents.map((l) => this.core.ids.eventId(l.nid)), userId, false);
      for (const l of latestEvents) {
        const agg = inner.get(this.core.ids.eventId(l.nid));
        const thread = out.get(l.parent)?.[REL_THREAD];
        if (agg && Object.keys(agg).length > 0 && isJsonObject(thread) && isJsonObject(thread.latest_event)) {
          (thread.latest_event.unsigned as JsonObject)['m.relations'] = agg;
        }
      }
    }
    for (const [id, rel] of out) if (Object.keys(rel).length === 0) out.delete(id);
    return out;
  }

  /**
   * A child event served inside an aggregation, in the client event format. Indexed children are
   * never redacted (a redaction removes them from the index), so the stored event is served as is.
   */
  private bundledEvent(nid: number): JsonObject {
    const ev = this.core.event(nid)!;
    const meta = this.core.eventMeta(nid)!;
    const obj: JsonObject = {
      content: ev.content,
      event_id: ev.eventId,
      origin_server_ts: ev.originServerTs,
      room_id: this.core.roomByNid(meta.roomNid).roomId,
      sender: ev.sender,
      type: ev.type,
      unsigned: { age: this.now() - ev.originServerTs },
    };
    if (ev.stateKey !== undefined) obj.state_key = ev.stateKey;
    return obj;
  }
}

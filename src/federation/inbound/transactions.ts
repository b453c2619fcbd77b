// Inbound transactions (server-server API "Transactions", PUT /send/{txnId}): at most 50 PDUs and
// 100 EDUs; idempotent per (origin, txnId) with the answer kept in SQLite for a day; each PDU handled
// on its own (its own result; one bad PDU never fails the others), PDUs of one room in order and
// rooms concurrently; EDUs alongside.
import type { Logger } from 'pino';
import type { RoomVersion } from '../../core/events/room-versions.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import type { AcceptResult } from '../../rooms/service.js';
import type { Database } from '../../store/db.js';
import type { Store } from '../../store/index.js';
import { serverAclAllows } from '../acl.js';
import type { EduDispatcher } from './edus.js';
import { eventIdOrEmpty, type RawPdu } from './pdu-checks.js';
import { GapFillError, type EventPipeline, type FetchBudget } from './pipeline.js';
import { topLevelArrayElements } from './raw-json.js';
import type { RoomServers } from './room-servers.js';

/** "Transactions are limited in size; they can have at most 50 PDUs and 100 EDUs." */
export const MAX_TXN_PDUS = 50;
export const MAX_TXN_EDUS = 100;
/** Synapse's request body cap (200 PDUs of 64 KiB): a full transaction with large EDUs fits. */
export const MAX_TXN_BODY_BYTES = 200 * 65536;
/** Answers are replayed for a day, as Synapse keeps them. */
export const TXN_RETENTION_MS = 24 * 3600_000;
const PRUNE_INTERVAL_MS = 10 * 60_000;
/** Rooms of one transaction handled at once. */
const ROOM_CONCURRENCY = 10;

export interface TxnResponse {
  pdus: Record<string, JsonObject>;
}

export interface TransactionDeps {
  readonly db: Database;
  readonly store: Store;
  readonly serverName: string;
  readonly pipeline: EventPipeline;
  readonly edus: EduDispatcher;
  readonly roomServers: RoomServers;
  readonly now: () => number;
  readonly logger?: Logger | undefined;
}

/** The per-PDU answer for an outcome of the rooms writer. */
function resultOf(r: AcceptResult): JsonObject {
  switch (r.status) {
    case 'accepted':
    case 'soft_failed':
      // Soft-failed events are stored and handled as usual; only clients do not see them.
      return {};
    case 'rejected':
      return { error: `rejected: ${r.reason}` };
    case 'dropped':
      return { error: r.reason };
    case 'missing':
      return { error: r.reason };
  }
}

export class TransactionHandler {
  private readonly inFlight = new Map<string, Promise<TxnResponse>>();
  private lastPrune = 0;
  private readonly q;

  constructor(private readonly d: TransactionDeps) {
    this.q = {
      get: d.db.prepare<[string, string], string>('SELECT response_json FROM federation_inbound_txns WHERE origin = ? AND txn_id = ?').pluck(),
      put: d.db.prepare<[string, string, string, number]>(
        'INSERT OR REPLACE INTO federation_inbound_txns (origin, txn_id, response_json, received_ts) VALUES (?, ?, ?, ?)',
      ),
      prune: d.db.prepare<[number]>('DELETE FROM federation_inbound_txns WHERE received_ts < ?'),
    };
  }

  /**
   * Handles PUT /send/{txnId} from `origin` (authenticated). `rawText` is the request body as
   * received, from which each PDU's own text is sliced; `strictBody` says the whole text already
   * passed the strict number checks (then the parsed PDUs are used as they are, since no room
   * version is stricter). A transaction seen before (or still being handled) gets the same answer
   * without being handled again.
   */
  async receive(origin: string, txnId: string, body: unknown, rawText?: string, strictBody = false): Promise<TxnResponse> {
    if (!isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Transaction must be a JSON object', 400);
    const pdus = body.pdus ?? [];
    const edus = body.edus ?? [];
    if (!Array.isArray(pdus)) throw new MatrixError('M_BAD_JSON', '"pdus" must be an array', 400);
    if (!Array.isArray(edus)) throw new MatrixError('M_BAD_JSON', '"edus" must be an array', 400);
    // As Synapse: an oversized transaction is refused before anything is remembered of it.
    if (pdus.length > MAX_TXN_PDUS || edus.length > MAX_TXN_EDUS) {
      throw new MatrixError('M_BAD_JSON', `A transaction holds at most ${MAX_TXN_PDUS} PDUs and ${MAX_TXN_EDUS} EDUs`, 400);
    }
    const key = `${origin}\u0000${txnId}`;
    const running = this.inFlight.get(key);
    if (running) return running;
    const stored = this.q.get.get(origin, txnId);
    if (stored !== undefined) return JSON.parse(stored) as TxnResponse;

    const p = this.handle(origin, pdus, edus, rawText, strictBody)
      .then((response) => {
        const now = this.d.now();
        this.q.put.run(origin, txnId, JSON.stringify(response), now);
        if (now - this.lastPrune > PRUNE_INTERVAL_MS) {
          this.lastPrune = now;
          this.q.prune.run(now - TXN_RETENTION_MS);
        }
        return response;
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  private async handle(origin: string, pdus: readonly JsonValue[], edus: readonly JsonValue[], rawText: string | undefined, strictBody: boolean): Promise<TxnResponse> {
    const slices = rawText === undefined ? null : topLevelArrayElements(rawText, 'pdus');
    const aligned = slices !== null && slices.length === pdus.length;
    const parsedOk = strictBody && aligned;
    const byRoom = new Map<string, RawPdu[]>();
    pdus.forEach((pdu, i) => {
      const roomId = isJsonObject(pdu) ? pdu.room_id : undefined;
      if (typeof roomId !== 'string') {
        // Without a room there is no room version, hence no event ID to answer under (as Synapse, ignored).
        this.d.logger?.info({ origin }, 'PDU without room_id ignored');
        return;
      }
      const list = byRoom.get(roomId) ?? [];
      list.push({ pdu, text: aligned ? slices[i] : undefined, ...(parsedOk ? { parsed: true } : {}) });
      byRoom.set(roomId, list);
    });
    const results: Record<string, JsonObject> = {};
    const rooms = [...byRoom];
    // One budget of fetched events and time for the whole transaction: 50 PDUs each naming 20
    // unknown prev events cannot multiply the work a peer makes us do.
    const budget = this.d.pipeline.newBudget();
    let next = 0;
    const worker = async () => {
      while (next < rooms.length) {
        const [roomId, items] = rooms[next++]!;
        await this.handleRoom(origin, roomId, items, results, budget);
      }
    };
    await Promise.all([
      Promise.all(Array.from({ length: Math.min(ROOM_CONCURRENCY, rooms.length) }, worker)),
      this.d.edus.dispatch(origin, edus),
    ]);
    return { pdus: results };
  }

  /** The PDUs of one room, in order. */
  private async handleRoom(origin: string, roomId: string, items: readonly RawPdu[], results: Record<string, JsonObject>, budget: FetchBudget): Promise<void> {
    const room = this.d.store.core.room(roomId);
    const failAll = (error: string, version: RoomVersion | undefined) => {
      for (const it of items) {
        // Without the room's version the ID is only known when the event carries it (v1/v2).
        const id = version ? eventIdOrEmpty(it.pdu, version) : isJsonObject(it.pdu) && typeof it.pdu.event_id === 'string' ? it.pdu.event_id : '';
        if (id) results[id] = { error };
      }
    };
    if (!room || room.currentStateGroup === null) {
      failAll(`unknown room ${roomId}`, room?.version);
      return;
    }
    const version = room.version;
    if (!this.d.roomServers.isJoined(roomId, this.d.serverName)) {
      failAll(`this server is not in room ${roomId}`, version);
      return;
    }
    const acl = await this.d.store.getCurrentStateEvent(roomId, 'm.room.server_acl', '');
    if (acl && !serverAclAllows(acl.event.content as JsonValue, origin)) {
      failAll('Server is banned from room', version);
      return;
    }
    const checked = await this.d.pipeline.check(items, version, roomId);
    for (const c of checked) {
      if (!c.ok) {
        if (c.eventId) results[c.eventId] = { error: c.error };
        else this.d.logger?.info({ origin, error: c.error }, 'PDU without a computable event ID dropped');
        continue;
      }
      try {
        const r = await this.d.pipeline.accept(origin, c, version, { fetchMissingEvents: true, backfilled: false, budget });
        results[c.eventId] = resultOf(r);
      } catch (e) {
        if (!(e instanceof GapFillError)) this.d.logger?.warn({ err: e, origin, eventId: c.eventId }, 'PDU failed');
        results[c.eventId] = { error: (e as Error).message };
      }
    }
  }
}

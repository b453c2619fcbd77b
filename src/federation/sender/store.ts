// SQLite side of the outbound federation sender (tables of migrations/1200_federation_sender.sql):
// the per-destination PDU and EDU queues, transaction IDs, backoff and catch-up positions. All
// synchronous (better-sqlite3): the PDU part runs inside event transactions as a derived writer.
import type { Database } from '../../store/db.js';

export interface QueuedPdu {
  readonly streamOrdering: number;
  readonly eventNid: number;
  readonly roomNid: number;
}

export interface QueuedEdu {
  readonly id: number;
  readonly eduType: string;
  /** The content as stored (JSON text). */
  readonly content: string;
}

export interface CatchUpRoom {
  readonly roomNid: number;
  readonly latestStream: number;
  readonly latestEventNid: number;
  readonly sentStream: number;
}

export interface DestinationRow {
  readonly destination: string;
  readonly lastTxnId: number;
  readonly retryIntervalMs: number;
  readonly nextRetryTs: number;
  readonly catchingUp: boolean;
  readonly lastSuccessTs: number | null;
  readonly lastSuccessfulStream: number;
}

/** What a successful transaction removes from the queues. */
export interface DeliveredItems {
  readonly pduStreams: readonly number[];
  readonly eduIds: readonly number[];
  /** Per room, the highest stream ordering delivered. */
  readonly rooms: ReadonlyMap<number, number>;
}

interface DestinationDb {
  destination: string;
  last_txn_id: number;
  retry_interval_ms: number;
  next_retry_ts: number;
  catching_up: number;
  last_success_ts: number | null;
  last_successful_stream: number;
}

export class SenderStore {
  private readonly q;
  private readonly deliveredTxn: (dest: string, items: DeliveredItems, now: number) => void;
  private readonly droppedTxn: (dest: string, items: DeliveredItems) => void;
  private readonly enterCatchUpTxn: (dest: string) => void;
  private readonly nextTxnIdTxn: (dest: string, now: number) => number;
  private readonly recordDeviceUpdatesTxn: (fn: () => void) => void;

  constructor(readonly db: Database) {
    this.q = {
      insPdu: db.prepare<[string, number, number, number]>(
        'INSERT OR IGNORE INTO federation_pdu_queue (destination, stream_ordering, event_nid, room_nid) VALUES (?, ?, ?, ?)',
      ),
      upsertRoom: db.prepare<[string, number, number, number]>(
        `INSERT INTO federation_destination_rooms (destination, room_nid, latest_stream, latest_event_nid) VALUES (?, ?, ?, ?)
         ON CONFLICT (destination, room_nid) DO UPDATE SET latest_stream = excluded.latest_stream, latest_event_nid = excluded.latest_event_nid
         WHERE excluded.latest_stream > federation_destination_rooms.latest_stream`,
      ),
      pendingPdus: db.prepare<[string, number], { stream_ordering: number; event_nid: number; room_nid: number }>(
        'SELECT stream_ordering, event_nid, room_nid FROM federation_pdu_queue WHERE destination = ? ORDER BY stream_ordering LIMIT ?',
      ),
      countPdus: db.prepare<[string, number], number>(
        'SELECT count(*) FROM (SELECT 1 FROM federation_pdu_queue WHERE destination = ? LIMIT ?)',
      ).pluck(),
      delPdu: db.prepare<[string, number]>('DELETE FROM federation_pdu_queue WHERE destination = ? AND stream_ordering = ?'),
      delAllPdus: db.prepare<[string]>('DELETE FROM federation_pdu_queue WHERE destination = ?'),
      markRoomSent: db.prepare<[number, string, number]>(
        'UPDATE federation_destination_rooms SET sent_stream = max(sent_stream, ?) WHERE destination = ? AND room_nid = ?',
      ),
      catchUpRooms: db.prepare<[string, number], { room_nid: number; latest_stream: number; latest_event_nid: number; sent_stream: number }>(
        `SELECT room_nid, latest_stream, latest_event_nid, sent_stream FROM federation_destination_rooms
          WHERE destination = ? AND latest_stream > sent_stream ORDER BY latest_stream LIMIT ?`,
      ),
      insEdu: db.prepare<[string, string, string, number]>(
        'INSERT INTO federation_edu_queue (destination, edu_type, content, created_ts) VALUES (?, ?, ?, ?)',
      ),
      pendingEdus: db.prepare<[string, number], { id: number; edu_type: string; content: string }>(
        'SELECT id, edu_type, content FROM federation_edu_queue WHERE destination = ? ORDER BY id LIMIT ?',
      ),
      countEdus: db.prepare<[string], number>('SELECT count(*) FROM federation_edu_queue WHERE destination = ?').pluck(),
      delEdu: db.prepare<[number]>('DELETE FROM federation_edu_queue WHERE id = ?'),
      destination: db.prepare<[string], DestinationDb>('SELECT * FROM federation_destinations WHERE destination = ?'),
      ensureDestination: db.prepare<[string]>('INSERT OR IGNORE INTO federation_destinations (destination) VALUES (?)'),
      setTxnId: db.prepare<[number, string]>('UPDATE federation_destinations SET last_txn_id = ? WHERE destination = ?'),
      setBackoff: db.prepare<[number, number, string]>(
        'UPDATE federation_destinations SET retry_interval_ms = ?, next_retry_ts = ? WHERE destination = ?',
      ),
      setSuccess: db.prepare<[number, number, string]>(
        `UPDATE federation_destinations SET retry_interval_ms = 0, next_retry_ts = 0, last_success_ts = ?,
           last_successful_stream = max(last_successful_stream, ?) WHERE destination = ?`,
      ),
      setCatchingUp: db.prepare<[number, string]>('UPDATE federation_destinations SET catching_up = ? WHERE destination = ?'),
      catchingUp: db.prepare<[], string>('SELECT destination FROM federation_destinations WHERE catching_up = 1').pluck(),
      withWork: db.prepare<[], string>(
        `SELECT DISTINCT destination FROM federation_pdu_queue
         UNION SELECT DISTINCT destination FROM federation_edu_queue
         UNION SELECT destination FROM federation_destinations WHERE catching_up = 1`,
      ).pluck(),
      joinedServers: db.prepare<[number], string>(
        `SELECT DISTINCT substr(user_id, instr(user_id, ':') + 1) FROM room_memberships WHERE room_nid = ? AND membership = 'join'`,
      ).pluck(),
      sharingServers: db.prepare<[string], string>(
        `SELECT DISTINCT substr(b.user_id, instr(b.user_id, ':') + 1)
           FROM room_memberships a JOIN room_memberships b ON b.room_nid = a.room_nid AND b.membership = 'join'
          WHERE a.user_id = ? AND a.membership = 'join'`,
      ).pluck(),
      announced: db.prepare<[string], { item: string; digest: string }>('SELECT item, digest FROM federation_device_announced WHERE user_id = ?'),
      setAnnounced: db.prepare<[string, string, string]>(
        `INSERT INTO federation_device_announced (user_id, item, digest) VALUES (?, ?, ?)
         ON CONFLICT (user_id, item) DO UPDATE SET digest = excluded.digest`,
      ),
      delAnnounced: db.prepare<[string, string]>('DELETE FROM federation_device_announced WHERE user_id = ? AND item = ?'),
      lastDeviceStream: db.prepare<[string, string], number>(
        'SELECT stream_id FROM federation_device_list_sent WHERE destination = ? AND user_id = ?',
      ).pluck(),
      setDeviceStream: db.prepare<[string, string, number]>(
        `INSERT INTO federation_device_list_sent (destination, user_id, stream_id) VALUES (?, ?, ?)
         ON CONFLICT (destination, user_id) DO UPDATE SET stream_id = excluded.stream_id`,
      ),
    };

    this.deliveredTxn = db.transaction((dest: string, items: DeliveredItems, now: number) => {
      this.removeItems(dest, items);
      let maxStream = 0;
      for (const [roomNid, stream] of items.rooms) {
        this.q.markRoomSent.run(stream, dest, roomNid);
        if (stream > maxStream) maxStream = stream;
      }
      this.q.ensureDestination.run(dest);
      this.q.setSuccess.run(now, maxStream, dest);
    });
    this.droppedTxn = db.transaction((dest: string, items: DeliveredItems) => {
      this.removeItems(dest, items);
      // A dropped PDU is not delivered, but catch-up must not offer it again either.
      for (const [roomNid, stream] of items.rooms) this.q.markRoomSent.run(stream, dest, roomNid);
    });
    this.enterCatchUpTxn = db.transaction((dest: string) => {
      this.q.delAllPdus.run(dest);
      this.q.ensureDestination.run(dest);
      this.q.setCatchingUp.run(1, dest);
    });
    this.nextTxnIdTxn = db.transaction((dest: string, now: number) => {
      this.q.ensureDestination.run(dest);
      const last = this.q.destination.get(dest)!.last_txn_id;
      // Strictly increasing, and never below the clock: a database restored from a backup (or a
      // new one under the same server name) does not reuse IDs the peer has already answered,
      // which it would treat as retries and not process (as Synapse seeds its IDs with the time).
      const next = Math.max(last + 1, now);
      this.q.setTxnId.run(next, dest);
      return next;
    });
    this.recordDeviceUpdatesTxn = db.transaction((fn: () => void) => fn());
  }

  private removeItems(dest: string, items: DeliveredItems): void {
    for (const s of items.pduStreams) this.q.delPdu.run(dest, s);
    for (const id of items.eduIds) this.q.delEdu.run(id);
  }

  // ---- PDUs ----

  /**
   * Records that the destination should receive the event: the room's latest position for it and,
   * unless it is catching up, a queue row. Runs inside the event's transaction.
   */
  recordPdu(dest: string, pdu: QueuedPdu, queue: boolean): void {
    if (queue) this.q.insPdu.run(dest, pdu.streamOrdering, pdu.eventNid, pdu.roomNid);
    this.q.upsertRoom.run(dest, pdu.roomNid, pdu.streamOrdering, pdu.eventNid);
  }

  pendingPdus(dest: string, limit: number): QueuedPdu[] {
    return this.q.pendingPdus.all(dest, limit).map((r) => ({ streamOrdering: r.stream_ordering, eventNid: r.event_nid, roomNid: r.room_nid }));
  }

  /** Queued PDUs of the destination, counted up to `cap`. */
  countPdus(dest: string, cap: number): number {
    return this.q.countPdus.get(dest, cap) ?? 0;
  }

  /** Rooms whose latest event for the destination has not been delivered, oldest first. */
  catchUpRooms(dest: string, limit: number): CatchUpRoom[] {
    return this.q.catchUpRooms.all(dest, limit).map((r) => ({
      roomNid: r.room_nid,
      latestStream: r.latest_stream,
      latestEventNid: r.latest_event_nid,
      sentStream: r.sent_stream,
    }));
  }

  /** Drops the destination's PDU queue: from now on it gets the latest event per room. */
  enterCatchUp(dest: string): void {
    this.enterCatchUpTxn(dest);
  }

  exitCatchUp(dest: string): void {
    this.q.setCatchingUp.run(0, dest);
  }

  catchingUpDestinations(): string[] {
    return this.q.catchingUp.all();
  }

  // ---- EDUs ----

  insertEdu(dest: string, eduType: string, content: string, now: number): void {
    this.q.insEdu.run(dest, eduType, content, now);
  }

  pendingEdus(dest: string, limit: number): QueuedEdu[] {
    return this.q.pendingEdus.all(dest, limit).map((r) => ({ id: r.id, eduType: r.edu_type, content: r.content }));
  }

  countEdus(dest: string): number {
    return this.q.countEdus.get(dest) ?? 0;
  }

  // ---- destinations ----

  destination(dest: string): DestinationRow | undefined {
    const r = this.q.destination.get(dest);
    if (!r) return undefined;
    return {
      destination: r.destination,
      lastTxnId: r.last_txn_id,
      retryIntervalMs: r.retry_interval_ms,
      nextRetryTs: r.next_retry_ts,
      catchingUp: r.catching_up === 1,
      lastSuccessTs: r.last_success_ts,
      lastSuccessfulStream: r.last_successful_stream,
    };
  }

  /** Allocates the next transaction ID for the destination (persisted before use). */
  nextTxnId(dest: string, now: number): number {
    return this.nextTxnIdTxn(dest, now);
  }

  setBackoff(dest: string, intervalMs: number, nextRetryTs: number): void {
    this.q.ensureDestination.run(dest);
    this.q.setBackoff.run(intervalMs, nextRetryTs, dest);
  }

  /** A transaction succeeded: its items leave the queues and the backoff is reset, in one transaction. */
  delivered(dest: string, items: DeliveredItems, now: number): void {
    this.deliveredTxn(dest, items, now);
  }

  /** A transaction was refused as a whole (4xx): its items are dropped. */
  dropped(dest: string, items: DeliveredItems): void {
    this.droppedTxn(dest, items);
  }

  /** Destinations with queued PDUs or EDUs, or catching up: resumed at start. */
  destinationsWithWork(): string[] {
    return this.q.withWork.all();
  }

  // ---- who is where ----

  /** Servers with a joined member in the room's current state. */
  joinedServers(roomNid: number): string[] {
    return this.q.joinedServers.all(roomNid);
  }

  /** Servers with a joined member in some room where `userId` is joined. */
  serversSharingRoomWith(userId: string): string[] {
    return this.q.sharingServers.all(userId);
  }

  // ---- device lists ----

  announcedDevices(userId: string): Map<string, string> {
    return new Map(this.q.announced.all(userId).map((r) => [r.item, r.digest]));
  }

  setAnnounced(userId: string, item: string, digest: string | null): void {
    if (digest === null) this.q.delAnnounced.run(userId, item);
    else this.q.setAnnounced.run(userId, item, digest);
  }

  lastDeviceListStream(dest: string, userId: string): number | undefined {
    return this.q.lastDeviceStream.get(dest, userId);
  }

  setDeviceListStream(dest: string, userId: string, streamId: number): void {
    this.q.setDeviceStream.run(dest, userId, streamId);
  }

  /** Runs `fn` (store writes) as one transaction. */
  transaction(fn: () => void): void {
    this.recordDeviceUpdatesTxn(fn);
  }
}

// The backfill client (server-server API "Backfilling and retrieving missing events"): when a
// client pages back past the start of our copy of a room (/messages), ask servers in the room for
// the history before our backward extremities (GET /backfill), check every event as any other, and
// store them as backfilled history: older than the current state, so they change neither the
// forward extremities nor the current state and never show up in /sync as new.
import type { Logger } from 'pino';
import type { RoomVersion } from '../../core/events/room-versions.js';
import type { FederationClient } from '../client.js';
import type { TopologicalPosition } from '../../store/index.js';
import type { Store } from '../../store/index.js';
import type { BackwardExtremities } from './backward-extremities.js';
import type { CheckedPdu } from './pdu-checks.js';
import { GapFillError, type EventPipeline } from './pipeline.js';
import { rawPdusOf, requestJsonText } from './remote.js';
import type { RoomServers } from './room-servers.js';

/** Backward extremities sent as `v` in one request. */
const MAX_SEEDS = 5;
/** Servers tried, most populated first, until one answers with events. */
const MAX_SERVERS = 5;
/** Events asked for per request (Synapse asks for 100, and serves no more). */
const MAX_LIMIT = 100;

export interface BackfillDeps {
  readonly store: Store;
  readonly client: FederationClient;
  readonly serverName: string;
  readonly pipeline: EventPipeline;
  readonly roomServers: RoomServers;
  readonly extremities: BackwardExtremities;
  readonly requestTimeoutMs: number;
  readonly maxResponseBytes: number;
  readonly logger?: Logger | undefined;
}

const enc = encodeURIComponent;

export class Backfiller {
  /** One backfill per room at a time; concurrent callers share it. */
  private readonly running = new Map<string, Promise<boolean>>();

  constructor(private readonly d: BackfillDeps) {}

  /** The /messages hook (rooms/room-events.ts BackfillHook): true when events were added. */
  backfill(roomId: string, before: TopologicalPosition, limit: number, opts: { holesAbove?: number } = {}): Promise<boolean> {
    const running = this.running.get(roomId);
    if (running) return running;
    const p = this.run(roomId, before, limit, opts.holesAbove)
      .catch((err) => {
        this.d.logger?.warn({ err, roomId }, 'backfill failed');
        return false;
      })
      .finally(() => this.running.delete(roomId));
    this.running.set(roomId, p);
    return p;
  }

  private async run(roomId: string, before: TopologicalPosition, limit: number, holesAbove: number | undefined): Promise<boolean> {
    const room = this.d.store.core.room(roomId);
    if (!room) return false;
    // With `holesAbove`: only extremities inside (holesAbove, before.depth], a hole in the middle.
    const seeds = this.d.extremities
      .list(roomId, before.depth, MAX_SEEDS)
      .filter((e) => holesAbove === undefined || (e.depth > holesAbove && e.depth <= before.depth))
      .map((e) => e.eventId);
    if (seeds.length === 0) return false;
    const servers = [...this.d.roomServers.joinedServers(roomId)]
      .filter(([s]) => s !== this.d.serverName)
      .sort((a, b) => b[1] - a[1])
      .slice(0, MAX_SERVERS)
      .map(([s]) => s);
    const want = Math.max(1, Math.min(limit, MAX_LIMIT));
    const query = [...seeds.map((id) => `v=${enc(id)}`), `limit=${want}`].join('&');
    for (const server of servers) {
      let checked: CheckedPdu[];
      try {
        const { value, text } = await requestJsonText(
          this.d.client,
          server,
          'GET',
          `/_matrix/federation/v1/backfill/${enc(roomId)}?${query}`,
          undefined,
          { timeoutMs: this.d.requestTimeoutMs, maxBytes: this.d.maxResponseBytes },
        );
        const raw = rawPdusOf(value, text, 'pdus').slice(0, want * 2);
        checked = (await this.d.pipeline.check(raw, room.version, roomId)).filter((c): c is CheckedPdu => {
          if (!c.ok) this.d.logger?.info({ server, eventId: c.eventId, error: c.error }, 'backfilled event dropped');
          return c.ok;
        });
      } catch (e) {
        this.d.logger?.info({ server, roomId, err: (e as Error).message }, 'backfill request failed');
        continue;
      }
      if (await this.store(server, checked, room.version)) return true;
    }
    return false;
  }

  /** Stores the events oldest first; true when at least one became part of the room's history. */
  private async store(server: string, events: CheckedPdu[], version: RoomVersion): Promise<boolean> {
    const core = this.d.store.core;
    events.sort((a, b) => (a.pdu.depth as number) - (b.pdu.depth as number));
    const budget = this.d.pipeline.newBudget();
    let added = false;
    for (const ev of events) {
      const meta = core.eventMetaById(ev.eventId);
      if (meta && !meta.outlier) continue;
      try {
        const r = await this.d.pipeline.accept(server, ev, version, { fetchMissingEvents: false, backfilled: true, budget });
        if (r.status === 'accepted' || r.status === 'soft_failed' || r.status === 'rejected') added = true;
        else this.d.logger?.info({ server, eventId: ev.eventId, reason: r.reason }, 'backfilled event not stored');
      } catch (e) {
        // One event whose state cannot be had does not stop the others (they may not need it).
        this.d.logger?.info({ server, eventId: ev.eventId, err: (e as Error).message }, 'backfilled event not stored');
        if (e instanceof GapFillError && e.exhausted) break;
      }
    }
    return added;
  }
}

// Inbound federation of events: /send transactions (PDU checks, gap filling, EDU dispatch), the
// endpoints serving events to other servers, and the backfill client behind /messages. Build it
// before any event is written: its derived writer keeps the backward extremities.
import type { Logger } from 'pino';
import type { E2eeService } from '../../e2ee/service.js';
import type { PresenceService } from '../../ephemeral/presence.js';
import type { ReceiptsService } from '../../ephemeral/receipts.js';
import type { TypingService } from '../../ephemeral/typing.js';
import type { BackfillHook } from '../../rooms/room-events.js';
import type { RoomsService } from '../../rooms/service.js';
import type { Database } from '../../store/db.js';
import type { Store } from '../../store/index.js';
import type { FederationClient } from '../client.js';
import type { KeyRing } from '../keys.js';
import { Backfiller } from './backfill.js';
import { BackwardExtremities } from './backward-extremities.js';
import { EduDispatcher } from './edus.js';
import { DEFAULT_INBOUND_LIMITS, EventPipeline, type InboundLimits } from './pipeline.js';
import { RoomServers } from './room-servers.js';
import { EventServer } from './serve.js';
import { TransactionHandler } from './transactions.js';

export { MAX_TXN_BODY_BYTES, MAX_TXN_EDUS, MAX_TXN_PDUS, TransactionHandler, type TxnResponse } from './transactions.js';
export { EventServer, visibleToServer } from './serve.js';
export { DEFAULT_INBOUND_LIMITS, EventPipeline, FetchBudget, GapFillError, type InboundLimits } from './pipeline.js';
export { EduDispatcher, type EduHandler } from './edus.js';
export { checkPduFormat, checkPdus, trimUnsigned, type CheckedPdu, type PduCheck, type RawPdu } from './pdu-checks.js';

export interface InboundFederationDeps {
  readonly db: Database;
  readonly store: Store;
  readonly rooms: RoomsService;
  readonly keyRing: KeyRing;
  readonly client: FederationClient;
  readonly serverName: string;
  readonly clock?: (() => number) | undefined;
  readonly logger?: Logger | undefined;
  readonly typing?: Pick<TypingService, 'applyRemoteTyping'> | undefined;
  readonly receipts?: Pick<ReceiptsService, 'applyRemoteReceipt'> | undefined;
  readonly presence?: Pick<PresenceService, 'applyRemotePresence'> | undefined;
  readonly e2ee?: Pick<E2eeService, 'remoteDeviceListChanged' | 'applyRemoteToDevice'> | undefined;
  readonly limits?: Partial<InboundLimits> | undefined;
}

export interface InboundFederation {
  /** PUT /send/{txnId}. */
  readonly transactions: TransactionHandler;
  /** GET /event, /state, /state_ids, /event_auth, /backfill, /timestamp_to_event; POST /get_missing_events. */
  readonly events: EventServer;
  /** Steps 1-3 and gap filling, for other federation parts that receive events (joins, invites). */
  readonly pipeline: EventPipeline;
  /** EDU handlers by type (other areas may register theirs). */
  readonly edus: EduDispatcher;
  /** The /messages hook: fetch older history from other servers (wire as RoomEventsDeps.backfill). */
  readonly backfill: BackfillHook;
}

export function createInboundFederation(deps: InboundFederationDeps): InboundFederation {
  const now = deps.clock ?? Date.now;
  const limits: InboundLimits = { ...DEFAULT_INBOUND_LIMITS, ...deps.limits };
  const roomServers = new RoomServers(deps.store);
  const extremities = new BackwardExtremities(deps.store);
  const pipeline = new EventPipeline({ store: deps.store, rooms: deps.rooms, keyRing: deps.keyRing, client: deps.client, limits, now, logger: deps.logger });
  const edus = new EduDispatcher({
    store: deps.store,
    typing: deps.typing,
    receipts: deps.receipts,
    presence: deps.presence,
    e2ee: deps.e2ee,
    logger: deps.logger,
  });
  const transactions = new TransactionHandler({ db: deps.db, store: deps.store, serverName: deps.serverName, pipeline, edus, roomServers, now, logger: deps.logger });
  const events = new EventServer({ store: deps.store, serverName: deps.serverName, roomServers, now });
  const backfiller = new Backfiller({
    store: deps.store,
    client: deps.client,
    serverName: deps.serverName,
    pipeline,
    roomServers,
    extremities,
    requestTimeoutMs: limits.requestTimeoutMs,
    maxResponseBytes: limits.maxResponseBytes,
    logger: deps.logger,
  });
  return { transactions, events, pipeline, edus, backfill: (roomId, before, limit, opts) => backfiller.backfill(roomId, before, limit, opts) };
}

// The joining (leaving, knocking, inviting) server's side of the membership handshakes, for our
// users and rooms this server is not in: the rooms lifecycle's remoteJoin, remoteKnock, remoteLeave
// and remoteInvite hooks. Joins ask each candidate server in turn: make_join with every room
// version we support, the event built from the template and signed, send_join v2 (v1 only when the
// peer lacks v2), then the answer verified (signatures and hashes of every state and auth chain
// event in one batch, the create event, the auth chain stored as outliers in auth order so each is
// authorised against its own auth events) and the join accepted on the returned state.
import type { Logger } from 'pino';
import type { SigningKey } from '../../core/crypto/ed25519.js';
import { stateTuple } from '../../core/events/event.js';
import { authOrder } from '../../core/events/auth-order.js';
import { computeEventId } from '../../core/events/hashes.js';
import { getRoomVersion, type RoomVersion } from '../../core/events/room-versions.js';
import { hashAndSignEvent, verifyEventSignature } from '../../core/events/signing.js';
import { listSignatureKeyIds } from '../../core/crypto/signing.js';
import { isValidServerName, serverNameOf } from '../../core/ids.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import type { RoomsService } from '../../rooms/service.js';
import type { Store } from '../../store/index.js';
import type { FederationClient } from '../client.js';
import { checkPduFormat, signedForm, withContentHashChecked, type CheckedPdu, type RawPdu } from '../inbound/pdu-checks.js';
import { rawPdusOf, requestJson } from '../inbound/remote.js';
import type { KeyRing } from '../keys.js';
import { checkTemplate, eventFromTemplate, PREJOIN_STATE_TYPES, randomEventId, verQuery, type Membership } from './events.js';
import { RoomReads } from './reads.js';
import { clientErrorOf, isUnknownEndpoint, unwrapV1 } from './remote-json.js';
import type { PduFanout } from './server.js';

export interface RemoteMembershipLimits {
  /** make_* and send_leave/send_knock/invite requests. */
  readonly requestTimeoutMs: number;
  /** send_join: the resident sends the whole state of the room. */
  readonly sendJoinTimeoutMs: number;
  readonly sendJoinMaxBytes: number;
}

export const DEFAULT_REMOTE_MEMBERSHIP_LIMITS: RemoteMembershipLimits = {
  requestTimeoutMs: 60_000,
  sendJoinTimeoutMs: 300_000,
  sendJoinMaxBytes: 500 * 1024 * 1024,
};

export interface RemoteMembershipDeps {
  readonly store: Store;
  readonly rooms: RoomsService;
  readonly keyRing: KeyRing;
  readonly client: FederationClient;
  readonly serverName: string;
  readonly signingKey: SigningKey;
  readonly clock?: (() => number) | undefined;
  readonly logger?: Logger | undefined;
  /** The outbound sender, read when needed (events the resident sends on are not fanned out by us). */
  readonly sender?: () => PduFanout | undefined;
  readonly limits?: Partial<RemoteMembershipLimits> | undefined;
}

export interface MembershipRequest {
  readonly roomId: string;
  readonly servers: readonly string[];
  readonly userId: string;
  readonly content: JsonObject;
}

/** What a send_join answer turned into. */
export interface JoinOutcome {
  readonly roomId: string;
  readonly eventId: string;
  /** Events of state and auth_chain that passed the checks and were stored (or were already). */
  readonly stored: number;
  /** Events dropped (format, signature) or rejected (auth). */
  readonly dropped: number;
}

const enc = encodeURIComponent;
const MEMBER = 'm.room.member';

export class RemoteMembership {
  private readonly limits: RemoteMembershipLimits;
  private readonly now: () => number;
  readonly reads: RoomReads;

  constructor(private readonly d: RemoteMembershipDeps) {
    this.limits = { ...DEFAULT_REMOTE_MEMBERSHIP_LIMITS, ...d.limits };
    this.now = d.clock ?? Date.now;
    this.reads = new RoomReads(d.store);
  }

  /** Tries each server in turn; the last refusal (or failure) is what the client sees. */
  private async viaServers<T>(what: string, servers: readonly string[], fn: (server: string) => Promise<T>): Promise<T> {
    const list = [...new Set(servers)].filter((s) => s !== this.d.serverName && isValidServerName(s));
    if (list.length === 0) throw new MatrixError('M_NOT_FOUND', 'No known servers', 404);
    let last: unknown;
    for (const server of list) {
      try {
        return await fn(server);
      } catch (e) {
        last = e;
        this.d.logger?.info({ server, err: (e as Error).message }, `${what} through ${server} failed`);
      }
    }
    throw clientErrorOf(last, `${what} failed`);
  }

  // ---- joins ----

  /** remoteJoin: joins `roomId` through one of `servers`; the room's state is then stored here. */
  async join(req: MembershipRequest): Promise<{ roomId: string }> {
    const r = await this.viaServers('join', req.servers, (server) => this.joinVia(server, req));
    return { roomId: r.roomId };
  }

  /** The whole handshake with one resident server. */
  async joinVia(server: string, req: MembershipRequest): Promise<JoinOutcome> {
    const { version, template } = await this.makeMembership(server, 'join', req.roomId, req.userId);
    const pdu = eventFromTemplate(template, { serverName: this.d.serverName, key: this.d.signingKey, version, now: this.now(), content: req.content });
    const eventId = computeEventId(pdu, version);
    // The resident server sends our join to the room: our own fan-out would only repeat it.
    this.d.sender?.()?.skipFanOut?.(eventId);
    const answer = await this.sendMembership(server, 'send_join', req.roomId, eventId, pdu, {
      timeoutMs: this.limits.sendJoinTimeoutMs,
      maxBytes: this.limits.sendJoinMaxBytes,
    });
    return this.completeJoin(server, req.roomId, version, pdu, eventId, answer.value, answer.text);
  }

  /**
   * GET make_join / make_leave / make_knock: the room version (one we support) and a checked
   * template (spec: type, room, sender, state key and membership as asked).
   */
  private async makeMembership(server: string, membership: Membership, roomId: string, userId: string): Promise<{ version: RoomVersion; template: JsonObject }> {
    const ver = membership === 'leave' ? '' : `?${verQuery()}`;
    const made = await this.d.client.request<unknown>(server, 'GET', `/_matrix/federation/v1/make_${membership}/${enc(roomId)}/${enc(userId)}${ver}`, undefined, {
      timeoutMs: this.limits.requestTimeoutMs,
    });
    if (!isJsonObject(made)) throw new MatrixError('M_UNKNOWN', `make_${membership} answer of ${server} is not an object`, 502);
    const versionId = made.room_version === undefined ? '1' : made.room_version;
    const version = typeof versionId === 'string' ? getRoomVersion(versionId) : undefined;
    if (!version) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', `Room version ${String(versionId)} is not supported by this server`, 400);
    const known = this.d.store.core.room(roomId);
    if (known && known.version.id !== version.id) throw new MatrixError('M_UNKNOWN', `${server} says room ${roomId} has version ${version.id}, not ${known.version.id}`, 502);
    const problem = checkTemplate(made.event, { roomId, userId, membership });
    if (problem) throw new MatrixError('M_UNKNOWN', `make_${membership} answer of ${server} is malformed: ${problem}`, 502);
    return { version, template: made.event as JsonObject };
  }

  /**
   * PUT send_join / send_leave (v2, then v1 when the peer lacks v2: 404 or 400 M_UNRECOGNIZED) and
   * send_knock (v1 only); the answer object with its text.
   */
  private async sendMembership(
    server: string,
    endpoint: 'send_join' | 'send_leave' | 'send_knock',
    roomId: string,
    eventId: string,
    pdu: JsonObject,
    o: { timeoutMs: number; maxBytes: number },
  ): Promise<{ value: JsonObject; text: string }> {
    const tail = `${endpoint}/${enc(roomId)}/${enc(eventId)}`;
    if (endpoint !== 'send_knock') {
      try {
        const r = await requestJson(this.d.client, server, 'PUT', `/_matrix/federation/v2/${tail}`, pdu, o);
        if (!isJsonObject(r.value)) throw new MatrixError('M_UNKNOWN', `${endpoint} answer of ${server} is not an object`, 502);
        return { value: r.value, text: r.text };
      } catch (e) {
        if (!isUnknownEndpoint(e)) throw e;
      }
    }
    const r = await requestJson(this.d.client, server, 'PUT', `/_matrix/federation/v1/${tail}`, pdu, o);
    if (isJsonObject(r.value)) return { value: r.value, text: r.text };
    const inner = unwrapV1(r.value, r.text);
    if (!inner) throw new MatrixError('M_UNKNOWN', `${endpoint} answer of ${server} is malformed`, 502);
    return inner;
  }

  /**
   * Verifies a send_join answer and stores the room: steps 1-3 of "Checks performed on receipt of a
   * PDU" for every state and auth chain event (signatures in one batch, duplicates checked once),
   * the create event matching the room ID and version, every event stored as an outlier after the
   * auth events it lists (the rooms writer authorises each against them: step 4), then our join
   * accepted on the returned state, which becomes the room's current state.
   */
  async completeJoin(server: string, roomId: string, version: RoomVersion, ourPdu: JsonObject, eventId: string, value: JsonObject, text: string): Promise<JoinOutcome> {
    if (!Array.isArray(value.state) || !Array.isArray(value.auth_chain)) {
      throw new MatrixError('M_UNKNOWN', `send_join answer of ${server} lacks state or auth_chain`, 502);
    }
    const rawState = rawPdusOf(value, text, 'state');
    const rawAuth = rawPdusOf(value, text, 'auth_chain');
    const checked = await this.checkBatch([...rawState, ...rawAuth], version, roomId);
    const stateIds = new Set<string>();
    let dropped = 0;
    checked.results.forEach((c, i) => {
      if (!c) dropped++;
      else if (i < rawState.length) stateIds.add(c.eventId);
    });

    // The join as the resident signed it (restricted rooms: with the authorising server's signature).
    let joinPdu = ourPdu;
    if (isJsonObject(value.event)) {
      const signedJoin = (await this.checkBatch([{ pdu: value.event }], version, roomId)).results[0];
      if (signedJoin && signedJoin.eventId === eventId && !signedJoin.redacted) joinPdu = signedJoin.pdu;
      else this.d.logger?.warn({ server, roomId }, 'send_join answer carries an event that is not our join; ignored');
    }

    const create = [...checked.unique.values()].find((c) => c.pdu.type === 'm.room.create' && c.pdu.state_key === '');
    if (!create || !stateIds.has(create.eventId)) throw new MatrixError('M_UNKNOWN', `send_join answer of ${server} lacks the room's create event`, 502);
    const createContent = isJsonObject(create.pdu.content) ? create.pdu.content : {};
    const createVersion = createContent.room_version === undefined ? '1' : createContent.room_version;
    if (createVersion !== version.id) throw new MatrixError('M_UNKNOWN', `the create event of ${roomId} says room version ${String(createVersion)}, not ${version.id}`, 502);

    // Step 4 for each event, auth events first; rejected ones stay out of the state.
    const ordered = authOrder([...checked.unique.values()], version);
    const usable = new Set<string>();
    const results = await this.d.rooms.acceptOutliers(ordered, version);
    results.forEach((r, i) => {
      const c = ordered[i]!;
      if (r.status === 'accepted') usable.add(c.eventId);
      else {
        dropped++;
        this.d.logger?.info({ server, roomId, eventId: c.eventId, status: r.status, reason: 'reason' in r ? r.reason : '' }, 'send_join event not used');
      }
    });
    const stateBefore = new Map<string, string>();
    for (const id of stateIds) {
      if (!usable.has(id)) continue;
      const c = checked.unique.get(id)!;
      if (typeof c.pdu.state_key !== 'string' || typeof c.pdu.type !== 'string') continue;
      const key = stateTuple(c.pdu.type, c.pdu.state_key);
      const prior = stateBefore.get(key);
      if (prior !== undefined && prior !== id) throw new MatrixError('M_UNKNOWN', `send_join answer of ${server} lists two events for one state key`, 502);
      stateBefore.set(key, id);
    }
    if (!stateBefore.has(stateTuple('m.room.create', ''))) throw new MatrixError('M_UNKNOWN', `the create event of ${roomId} failed its checks`, 502);

    // The resident's state replaces ours, unless another of our users joined meanwhile (then ours is
    // current too, and the two joins are merged as any fork).
    const resetRoomState = !this.reads.isServerJoined(roomId, this.d.serverName);
    const r = await this.d.rooms.acceptEvent(joinPdu, version, { stateBefore, jsonText: JSON.stringify(joinPdu), resetRoomState });
    if (r.status === 'rejected' || r.status === 'soft_failed') throw new MatrixError('M_FORBIDDEN', `The join is not allowed by the room's state: ${r.reason}`, 403);
    if (r.status !== 'accepted') throw new MatrixError('M_UNKNOWN', `The join cannot be stored: ${r.status === 'dropped' || r.status === 'missing' ? r.reason : ''}`, 502);
    return { roomId, eventId, stored: usable.size, dropped };
  }

  /**
   * Steps 1-3 for a batch of PDUs of one room: the format (strict JSON for the room version, the
   * PDU schema, the room), one signature check per distinct event (every key fetched once for the
   * batch), the content hash (redacted on mismatch). `results` follows the input (null: dropped).
   */
  private async checkBatch(items: readonly RawPdu[], version: RoomVersion, roomId: string): Promise<{ results: (CheckedPdu | null)[]; unique: Map<string, CheckedPdu> }> {
    const formats = items.map((raw) => checkPduFormat(raw, version, { roomId }));
    const unique = new Map<string, CheckedPdu>();
    for (const f of formats) if (f.ok && !unique.has(f.eventId)) unique.set(f.eventId, f);
    const list = [...unique.values()];
    const sigs = await this.d.keyRing.verifyEventSignatures(list.map((c) => ({ pdu: signedForm(c), version })));
    list.forEach((c, i) => {
      const sig = sigs[i]!;
      if (!sig.ok) {
        unique.delete(c.eventId);
        this.d.logger?.info({ roomId, eventId: c.eventId, reason: sig.reason }, 'event dropped: signature check failed');
        return;
      }
      unique.set(c.eventId, withContentHashChecked(c, version));
    });
    const results = formats.map((f) => (f.ok ? (unique.get(f.eventId) ?? null) : null));
    return { results, unique };
  }

  // ---- knocks ----

  /** remoteKnock: make_knock + send_knock; the knock is recorded with the room's knock_room_state. */
  async knock(req: MembershipRequest): Promise<{ roomId: string }> {
    return this.viaServers('knock', req.servers, async (server) => {
      const { version, template } = await this.makeMembership(server, 'knock', req.roomId, req.userId);
      const pdu = eventFromTemplate(template, { serverName: this.d.serverName, key: this.d.signingKey, version, now: this.now(), content: req.content });
      const eventId = computeEventId(pdu, version);
      const answer = await this.sendMembership(server, 'send_knock', req.roomId, eventId, pdu, {
        timeoutMs: this.limits.requestTimeoutMs,
        maxBytes: 10 * 1024 * 1024,
      });
      const state = Array.isArray(answer.value.knock_room_state) ? answer.value.knock_room_state.filter(isJsonObject).slice(0, 100) : [];
      await this.recordOutOfBand({ ...pdu, unsigned: { knock_room_state: state } }, version);
      return { roomId: req.roomId };
    });
  }

  // ---- leaving a room we are not in (rejecting invites, rescinding knocks) ----

  /**
   * remoteLeave: make_leave + send_leave through the server that invited us (or any server of the
   * room we know of); when none can be reached, the invite is rejected here only (as Synapse does),
   * so that the user is not stuck with it.
   */
  async leave(input: { roomId: string; userId: string; content: JsonObject }): Promise<void> {
    const row = await this.d.store.getMembership(input.roomId, input.userId);
    if (!row || (row.membership !== 'invite' && row.membership !== 'knock')) throw new MatrixError('M_NOT_FOUND', 'Not a known room', 404);
    const membershipEvent = await this.d.store.getEvent(row.eventId);
    if (!membershipEvent) throw new MatrixError('M_NOT_FOUND', 'Not a known room', 404);
    const servers = this.serversFor(input.roomId, membershipEvent.event.sender, membershipEvent.event.json);
    try {
      await this.viaServers('leave', servers, async (server) => {
        const { version, template } = await this.makeMembership(server, 'leave', input.roomId, input.userId);
        const pdu = eventFromTemplate(template, { serverName: this.d.serverName, key: this.d.signingKey, version, now: this.now(), content: input.content });
        const eventId = computeEventId(pdu, version);
        await this.sendMembership(server, 'send_leave', input.roomId, eventId, pdu, { timeoutMs: this.limits.requestTimeoutMs, maxBytes: 1024 * 1024 });
        await this.recordOutOfBand(pdu, version);
      });
    } catch (e) {
      const reachedNone = !(e instanceof MatrixError) || e.status >= 500 || e.errcode === 'M_NOT_FOUND';
      if (!reachedNone || row.membership !== 'invite') throw e;
      this.d.logger?.info({ roomId: input.roomId, userId: input.userId, err: (e as Error).message }, 'no server of the room reachable: rejecting the invite locally');
      await this.rejectLocally(input, membershipEvent.event.json, membershipEvent.eventId);
    }
  }

  /** Servers to ask about a room we are not in: the inviter's, those of the invite or knock state, the room ID's. */
  private serversFor(roomId: string, inviter: string, membershipJson: JsonObject): string[] {
    const out: string[] = [];
    const add = (id: unknown) => {
      const s = typeof id === 'string' ? serverNameOf(id) : undefined;
      if (s && s !== this.d.serverName && !out.includes(s)) out.push(s);
    };
    add(inviter);
    const unsigned = isJsonObject(membershipJson.unsigned) ? membershipJson.unsigned : {};
    for (const key of ['invite_room_state', 'knock_room_state']) {
      const list = unsigned[key];
      if (Array.isArray(list)) for (const e of list) if (isJsonObject(e)) add(e.sender);
    }
    add(roomId);
    return out;
  }

  /** A leave we sign ourselves after the invite, kept here only (no server of the room reachable). */
  private async rejectLocally(input: { roomId: string; userId: string; content: JsonObject }, invite: JsonObject, inviteId: string): Promise<void> {
    const version = this.d.store.core.room(input.roomId)?.version;
    if (!version) throw new MatrixError('M_NOT_FOUND', 'Not a known room', 404);
    const ref: JsonValue = inviteId;
    const pdu: JsonObject = {
      type: MEMBER,
      room_id: input.roomId,
      sender: input.userId,
      state_key: input.userId,
      content: { ...input.content, membership: 'leave' },
      depth: (typeof invite.depth === 'number' ? invite.depth : 0) + 1,
      origin_server_ts: this.now(),
      prev_events: version.eventRefsArePairs ? [] : [ref],
      auth_events: version.eventRefsArePairs ? [] : [ref],
    };
    if (version.eventIdFormat === 'v1') pdu.event_id = randomEventId(this.d.serverName);
    await this.recordOutOfBand(hashAndSignEvent(pdu, this.d.serverName, this.d.signingKey, version), version);
  }

  private async recordOutOfBand(pdu: JsonObject, version: RoomVersion): Promise<void> {
    const r = await this.d.rooms.acceptEvent(pdu, version, { outOfBandMembership: true, jsonText: JSON.stringify(pdu) });
    if (r.status === 'dropped' || r.status === 'missing') throw new MatrixError('M_UNKNOWN', `The membership cannot be stored: ${r.reason}`, 500);
  }

  // ---- inviting a user of another server ----

  /**
   * remoteInvite: the invite built on the room's current state and signed by us, PUT /invite v2 to
   * the invitee's server with the room's prejoin state (PDUs, spec v1.16; v1 only for rooms v1/v2
   * when v2 is unknown there), the returned event checked (same event, the invitee's server's
   * signature) and accepted here; the sender then sends it to the room's other servers.
   */
  async invite(input: { roomId: string; sender: string; target: string; content: JsonObject }): Promise<void> {
    const targetServer = serverNameOf(input.target);
    if (!targetServer) throw new MatrixError('M_INVALID_PARAM', `Invalid user ID ${input.target}`, 400);
    const built = await this.d.rooms.buildEvent(input.roomId, {
      type: MEMBER,
      stateKey: input.target,
      content: { ...input.content, membership: 'invite' },
      sender: input.sender,
    });
    const { version, eventId } = built;
    const senderMember = (await this.d.store.getCurrentStateEvent(input.roomId, MEMBER, input.sender))?.eventId;
    const stateTexts = await this.reads.prejoinStateTexts(input.roomId, PREJOIN_STATE_TYPES, senderMember ? [senderMember] : []);
    const inviteRoomState = stateTexts.map((t) => JSON.parse(t) as JsonObject);
    const o = { timeoutMs: this.limits.requestTimeoutMs, maxBytes: 1024 * 1024 };
    let returned: JsonValue | undefined;
    try {
      try {
        const r = await requestJson(this.d.client, targetServer, 'PUT', `/_matrix/federation/v2/invite/${enc(input.roomId)}/${enc(eventId)}`, {
          room_version: version.id,
          event: built.pdu,
          invite_room_state: inviteRoomState,
        }, o);
        returned = isJsonObject(r.value) ? r.value.event : undefined;
      } catch (e) {
        if (!isUnknownEndpoint(e) || (version.id !== '1' && version.id !== '2')) throw e;
        const body: JsonObject = { ...built.pdu, unsigned: { invite_room_state: inviteRoomState.map((s) => ({ type: s.type ?? '', state_key: s.state_key ?? '', content: s.content ?? {}, sender: s.sender ?? '' })) } };
        const r = await requestJson(this.d.client, targetServer, 'PUT', `/_matrix/federation/v1/invite/${enc(input.roomId)}/${enc(eventId)}`, body, o);
        const inner = unwrapV1(r.value, r.text);
        returned = inner ? inner.value.event : isJsonObject(r.value) ? r.value.event : undefined;
      }
    } catch (e) {
      throw clientErrorOf(e, `Inviting ${input.target}`);
    }
    const signed = await this.checkSignedInvite(returned, version, eventId, targetServer);
    const r = await this.d.rooms.acceptEvent(signed, version, { jsonText: JSON.stringify(signed) });
    if (r.status === 'rejected' || r.status === 'soft_failed') throw new MatrixError('M_FORBIDDEN', `The invite is not allowed: ${r.reason}`, 403);
    if (r.status !== 'accepted') throw new MatrixError('M_UNKNOWN', `The invite cannot be stored: ${r.reason}`, 500);
  }

  /** The invitee's server answered with our event (same event ID) bearing its valid signature. */
  private async checkSignedInvite(returned: JsonValue | undefined, version: RoomVersion, eventId: string, targetServer: string): Promise<JsonObject> {
    const bad = (why: string) => new MatrixError('M_UNKNOWN', `The invite returned by ${targetServer} ${why}`, 502);
    if (!isJsonObject(returned)) throw bad('is missing');
    const event: JsonObject = { ...returned };
    delete event.unsigned;
    let id: string;
    try {
      id = computeEventId(event, version);
    } catch {
      throw bad('is malformed');
    }
    if (id !== eventId) throw bad('is not the invite we sent');
    const keyIds = listSignatureKeyIds(event, targetServer);
    for (const keyId of keyIds) {
      const publicKey = await this.d.keyRing.serverKey(targetServer, keyId);
      if (publicKey && verifyEventSignature(event, targetServer, keyId, publicKey, version)) return event;
    }
    throw bad('lacks a valid signature of its server');
  }
}

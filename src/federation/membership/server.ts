// The resident server's side of the membership handshakes (server-server API "Joining Rooms",
// "Restricted rooms", "Knocking upon a room", "Leaving Rooms", "Inviting to a room"): make_join,
// make_leave and make_knock build a template on the room's current state after checking that the
// user could make the change; send_join, send_leave and send_knock check the signed event (format,
// origin, signatures, hash; for restricted joins we sign as the authorising server), accept it
// through the rooms writer, send it to the other servers in the room and answer with the state;
// invite signs an invite for one of our users and records it for their /sync.
import type { Logger } from 'pino';
import { namedPowerLevel, userPowerLevel } from '../../core/auth/power-levels.js';
import { checkMembershipFromOrigin } from '../../core/auth/origin.js';
import { checkAuth } from '../../core/auth/rules.js';
import type { SigningKey } from '../../core/crypto/ed25519.js';
import { toRoomEvent } from '../../core/events/event.js';
import { checkContentHash } from '../../core/events/hashes.js';
import { getRoomVersion, type RoomVersion } from '../../core/events/room-versions.js';
import { signEvent } from '../../core/events/signing.js';
import { isValidUserId, serverNameOf } from '../../core/ids.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import type { AcceptResult, RoomsService } from '../../rooms/service.js';
import type { Store } from '../../store/index.js';
import type { EventPipeline } from '../inbound/pipeline.js';
import { checkPduFormat, signedForm, type CheckedPdu } from '../inbound/pdu-checks.js';
import type { KeyRing } from '../keys.js';
import { jsonArrayText, PREJOIN_STATE_TYPES, templateOf, type Membership } from './events.js';
import { RoomReads } from './reads.js';

/** The part of the outbound sender the handshakes use (src/federation/sender). */
export interface PduFanout {
  /** Queues a persisted, accepted event for these servers. */
  enqueuePdu(destinations: Iterable<string>, eventId: string): void;
  /** The event reaches the other servers another way: the automatic fan-out of local events skips it. */
  skipFanOut?(eventId: string): void;
}

export interface MembershipServerDeps {
  readonly store: Store;
  readonly rooms: RoomsService;
  readonly keyRing: KeyRing;
  readonly serverName: string;
  readonly signingKey: SigningKey;
  /** Whether a local user exists and is not deactivated (invites to unknown users are refused). */
  readonly localUserExists: (userId: string) => Promise<boolean>;
  /** The outbound sender, read when needed (it may be built after this). */
  readonly sender?: () => PduFanout | undefined;
  /** The inbound pipeline, to fetch what an event submitted to send_* lacks (read when needed). */
  readonly pipeline?: () => EventPipeline | undefined;
  readonly logger?: Logger | undefined;
}

/** The parts of a send_* request the handler needs. */
export interface SubmittedEvent {
  readonly roomId: string;
  readonly eventId: string;
  /** The parsed body. */
  readonly body: unknown;
  /** The body's text as received, when known (parsed again strictly for the room version). */
  readonly text?: string | undefined;
}

/** A JSON answer already serialised (the state of a send_join, built from stored PDU texts). */
export interface RawJson {
  readonly rawJson: string;
}

const MEMBER = 'm.room.member';

function invalid(message: string): MatrixError {
  return new MatrixError('M_INVALID_PARAM', message, 400);
}

export class MembershipServer {
  readonly reads: RoomReads;

  constructor(private readonly d: MembershipServerDeps) {
    this.reads = new RoomReads(d.store);
  }

  // ---- make_join / make_leave / make_knock ----

  /**
   * A template for `userId`'s membership change, after the checks: the user belongs to the origin,
   * this server is in the room, the origin supports the room version (join, knock), the room allows
   * knocking (knock), restricted joins are authorised by one of our users, and the auth rules would
   * allow the event on the current state (403 otherwise).
   */
  async makeMembership(
    membership: Membership,
    origin: string,
    roomId: string,
    userId: string,
    versions: readonly string[] | undefined,
  ): Promise<{ room_version: string; event: JsonObject }> {
    if (!isValidUserId(userId)) throw invalid(`Invalid user ID ${JSON.stringify(userId)}`);
    if (serverNameOf(userId) !== origin) throw new MatrixError('M_FORBIDDEN', `${userId} is not a user of ${origin}`, 403);
    const room = this.requireResident(roomId);
    const version = room.version;
    if (versions !== undefined && !versions.includes(version.id)) {
      throw new MatrixError('M_INCOMPATIBLE_ROOM_VERSION', `Your homeserver does not support the features required to ${membership} this room`, 400, {
        room_version: version.id,
      });
    }
    if (membership === 'knock' && !version.knocking) {
      throw new MatrixError('M_INCOMPATIBLE_ROOM_VERSION', `Room version ${version.id} does not support knocking`, 400, { room_version: version.id });
    }
    const content: JsonObject = { membership };
    if (membership === 'join') {
      const authoriser = await this.restrictedJoinAuthoriser(roomId, version, userId);
      if (authoriser !== undefined) content.join_authorised_via_users_server = authoriser;
    }
    const built = await this.d.rooms.buildEvent(roomId, { type: MEMBER, stateKey: userId, content, sender: userId });
    const ev = toRoomEvent(built.pdu, built.eventId, version);
    const auth = checkAuth(ev, this.reads.authEventsOf(built.pdu, version), version);
    if (!auth.allowed) throw new MatrixError('M_FORBIDDEN', `You are not allowed to ${membership === 'leave' ? 'leave' : membership} this room: ${auth.reason}`, 403);
    return { room_version: version.id, event: templateOf(built.pdu) };
  }

  /** The room, which this server must hold and be joined to (404 otherwise, as Synapse). */
  private requireResident(roomId: string): { nid: number; version: RoomVersion } {
    const room = this.reads.roomWithState(roomId);
    if (!room || !this.reads.isServerJoined(roomId, this.d.serverName)) {
      throw new MatrixError('M_NOT_FOUND', 'Unknown room', 404);
    }
    return room;
  }

  /**
   * Restricted rooms (v8+ `restricted`, v10+ `knock_restricted`; client-server API "Restricted
   * rooms"): for a user neither joined nor invited, one of the allowed rooms must hold them as a
   * member (400 M_UNABLE_TO_AUTHORISE_JOIN when we hold none of those rooms, 403 when they are in
   * none), and one of our users able to invite authorises the join, the most powerful first (400
   * M_UNABLE_TO_GRANT_JOIN when none can). Undefined when no authorisation is needed.
   */
  async restrictedJoinAuthoriser(roomId: string, version: RoomVersion, userId: string): Promise<string | undefined> {
    const rules = await this.reads.stateContent(roomId, 'm.room.join_rules');
    const rule = rules?.join_rule;
    const restricted = (rule === 'restricted' && version.restrictedJoins) || (rule === 'knock_restricted' && version.knockRestricted);
    if (!restricted || !rules) return undefined;
    const current = (await this.reads.stateContent(roomId, MEMBER, userId))?.membership;
    if (current === 'join' || current === 'invite') return undefined;
    await this.checkAllowConditions(rules, userId);
    const [create, powerLevels] = await Promise.all([this.reads.stateEvent(roomId, 'm.room.create'), this.reads.stateEvent(roomId, 'm.room.power_levels')]);
    const inviteLevel = namedPowerLevel('invite', powerLevels, version);
    let best: string | undefined;
    let bestLevel = -Infinity;
    for (const u of this.reads.joinedUsersOn(roomId, this.d.serverName)) {
      const level = userPowerLevel(u, powerLevels, create, version);
      if (level >= inviteLevel && level > bestLevel) {
        best = u;
        bestLevel = level;
      }
    }
    if (best === undefined) throw new MatrixError('M_UNABLE_TO_GRANT_JOIN', 'No user of this server can authorise your join', 400);
    return best;
  }

  /** The user is joined to one of the rooms the join rules allow (as far as this server knows). */
  private async checkAllowConditions(rules: JsonObject, userId: string): Promise<void> {
    const allow = Array.isArray(rules.allow) ? rules.allow : [];
    let known = 0;
    for (const entry of allow) {
      if (!isJsonObject(entry) || entry.type !== 'm.room_membership' || typeof entry.room_id !== 'string') continue;
      if (!this.reads.roomWithState(entry.room_id)) continue;
      known++;
      if ((await this.d.store.getMembership(entry.room_id, userId))?.membership === 'join') return;
    }
    if (known === 0) throw new MatrixError('M_UNABLE_TO_AUTHORISE_JOIN', 'This server does not know any of the rooms allowed by the join rules', 400);
    throw new MatrixError('M_FORBIDDEN', 'You do not belong to any of the rooms or spaces required to join this room', 403);
  }

  // ---- send_join / send_leave / send_knock ----

  /**
   * Checks and accepts a membership event submitted by `origin` (spec send_join: "the join event
   * fails a signature check, the type is not m.room.member, membership is not join, the sender is
   * not a user of the origin, state_key is not the sender" are 400 M_INVALID_PARAM), signs restricted
   * joins authorised by one of our users, and sends the event to the other servers in the room.
   * Returns the accepted PDU and whether we signed it.
   */
  async acceptSubmitted(membership: Membership, origin: string, sub: SubmittedEvent): Promise<{ pdu: JsonObject; signed: boolean; version: RoomVersion }> {
    const room = this.requireResident(sub.roomId);
    const version = room.version;
    const checked = checkPduFormat({ pdu: sub.body, text: sub.text }, version, { roomId: sub.roomId, eventId: sub.eventId });
    if (!checked.ok) throw invalid(checked.error);
    let pdu = checked.pdu;
    const ev = toRoomEvent(pdu, checked.eventId, version);
    const origins = checkMembershipFromOrigin(ev, origin, membership);
    if (!origins.allowed) throw invalid(origins.reason);
    if (!checkContentHash(signedForm(checked), version)) throw invalid('The event content hash does not match');

    let signed = false;
    let jsonText = checked.jsonText;
    const authoriser = ev.content.join_authorised_via_users_server;
    if (membership === 'join' && version.restrictedJoins && typeof authoriser === 'string' && serverNameOf(authoriser) === this.d.serverName) {
      // Re-check what make_join checked: the join conditions still hold for this user.
      const rules = await this.reads.stateContent(sub.roomId, 'm.room.join_rules');
      const current = (await this.reads.stateContent(sub.roomId, MEMBER, ev.sender))?.membership;
      if (rules && current !== 'join' && current !== 'invite') await this.checkAllowConditions(rules, ev.sender);
      pdu = signEvent(pdu, this.d.serverName, this.d.signingKey, version);
      jsonText = JSON.stringify(pdu);
      signed = true;
    }
    const [sig] = await this.d.keyRing.verifyEventSignatures([{ pdu: signed ? pdu : signedForm(checked), version }]);
    if (!sig!.ok) throw invalid(`Signature check failed: ${sig!.reason}`);

    const accepted: CheckedPdu = { ...checked, pdu, jsonText };
    const r = await this.accept(origin, accepted, version);
    if (r.status === 'rejected' || r.status === 'soft_failed') {
      throw new MatrixError('M_FORBIDDEN', `The ${membership} event is not allowed: ${r.reason}`, 403);
    }
    if (r.status !== 'accepted') throw invalid(`The ${membership} event cannot be accepted: ${r.reason}`);
    if (!r.duplicate) this.fanOut(sub.roomId, checked.eventId, origin);
    return { pdu, signed, version };
  }

  /** Accepts through the rooms writer; what the event lacks is fetched from the origin when the pipeline exists. */
  private async accept(origin: string, ev: CheckedPdu, version: RoomVersion): Promise<AcceptResult> {
    const r = await this.d.rooms.acceptEvent(ev.pdu, version, { jsonText: ev.jsonText, eventId: ev.eventId });
    if (r.status !== 'missing') return r;
    const pipeline = this.d.pipeline?.();
    if (!pipeline) return r;
    try {
      return await pipeline.accept(origin, ev, version, { fetchMissingEvents: true, backfilled: false, budget: pipeline.newBudget() });
    } catch (e) {
      return { eventId: ev.eventId, status: 'dropped', reason: (e as Error).message };
    }
  }

  /** Sends an accepted event of another server to every other server in the room (the resident's duty). */
  private fanOut(roomId: string, eventId: string, origin: string): void {
    const sender = this.d.sender?.();
    if (!sender) return;
    const targets = this.reads.joinedServers(roomId).filter((s) => s !== origin && s !== this.d.serverName);
    if (targets.length === 0) return;
    try {
      sender.enqueuePdu(targets, eventId);
    } catch (e) {
      this.d.logger?.warn({ err: e, roomId, eventId }, 'cannot queue a membership event for the other servers');
    }
  }

  /**
   * PUT /send_join (v2 and, with `v1`, the [200, {...}] form): the state before the join and its
   * auth chain as stored PDU texts, the join itself when we signed it, the servers in the room.
   * `omit_members` (MSC3706) is accepted and ignored: the full state is returned.
   */
  async sendJoin(origin: string, sub: SubmittedEvent, v1 = false): Promise<RawJson> {
    const { pdu, signed } = await this.acceptSubmitted('join', origin, sub);
    const stateIds = await this.d.store.getStateIdsBefore(sub.eventId);
    if (!stateIds) throw new MatrixError('M_UNKNOWN', 'The state before the join is not known', 500);
    const stateList = [...stateIds.values()];
    const authChain = await this.d.store.getAuthChainIds([...stateList, sub.eventId]);
    const servers = this.reads.joinedServers(sub.roomId).filter((s) => s !== origin || this.reads.joinedUsersOn(sub.roomId, origin).length > 1);
    let text =
      `{"origin":${JSON.stringify(this.d.serverName)},"members_omitted":false,"servers_in_room":${JSON.stringify(servers)},` +
      `"state":${jsonArrayText(this.reads.pduTexts(stateList))},"auth_chain":${jsonArrayText(this.reads.pduTexts(authChain))}`;
    if (signed) text += `,"event":${JSON.stringify(pdu)}`;
    text += '}';
    return { rawJson: v1 ? `[200,${text}]` : text };
  }

  /** PUT /send_leave (v2 answers {}, v1 [200, {}]). */
  async sendLeave(origin: string, sub: SubmittedEvent, v1 = false): Promise<unknown> {
    await this.acceptSubmitted('leave', origin, sub);
    return v1 ? [200, {}] : {};
  }

  /** PUT /send_knock: the knock_room_state (PDUs of the prejoin state types, spec v1.16). */
  async sendKnock(origin: string, sub: SubmittedEvent): Promise<RawJson> {
    const room = this.requireResident(sub.roomId);
    if (!room.version.knocking) throw new MatrixError('M_FORBIDDEN', `Room version ${room.version.id} does not support knocking`, 403);
    await this.acceptSubmitted('knock', origin, sub);
    const texts = await this.reads.prejoinStateTexts(sub.roomId, PREJOIN_STATE_TYPES);
    return { rawJson: `{"knock_room_state":${jsonArrayText(texts)}}` };
  }

  // ---- invite ----

  /**
   * PUT /invite (v2; v1 passes the event itself with `invite_room_state` in its `unsigned`): the
   * invite must be an m.room.member invite by a user of the origin, for an existing user of ours,
   * with a matching hash and valid signatures (spec: 400 M_INVALID_PARAM otherwise). We add our
   * signature, and record the invite: through the rooms writer when we hold the room's state,
   * otherwise as an out-of-band membership carrying the invite state for /sync. Returns the signed
   * event (without the invite state).
   */
  async invite(
    origin: string,
    input: { roomId: string; eventId: string; roomVersion: string; event: unknown; eventText?: string | undefined; inviteRoomState: unknown },
  ): Promise<JsonObject> {
    const version = getRoomVersion(input.roomVersion);
    if (!version) {
      throw new MatrixError('M_INCOMPATIBLE_ROOM_VERSION', `Room version ${input.roomVersion} is not supported`, 400, { room_version: input.roomVersion });
    }
    const known = this.d.store.core.room(input.roomId);
    if (known && known.version.id !== version.id) throw invalid(`Room ${input.roomId} has version ${known.version.id}, not ${version.id}`);
    const checked = checkPduFormat({ pdu: input.event, text: input.eventText }, version, { roomId: input.roomId, eventId: input.eventId });
    if (!checked.ok) throw invalid(checked.error);
    const ev = toRoomEvent(checked.pdu, checked.eventId, version);
    if (ev.type !== MEMBER) throw invalid('The event is not an m.room.member event');
    if (ev.content.membership !== 'invite') throw invalid('The membership is not invite');
    if (serverNameOf(ev.sender) !== origin) throw invalid(`The sender ${ev.sender} does not belong to ${origin}`);
    const target = ev.stateKey ?? '';
    if (!isValidUserId(target) || serverNameOf(target) !== this.d.serverName) throw invalid('The invited user does not belong to this server');
    if (!(await this.d.localUserExists(target))) throw new MatrixError('M_NOT_FOUND', `Unknown user ${target}`, 404);
    if (!checkContentHash(signedForm(checked), version)) throw invalid('The event content hash does not match');
    const [sig] = await this.d.keyRing.verifyEventSignatures([{ pdu: signedForm(checked), version }]);
    if (!sig!.ok) throw invalid(`Signature check failed: ${sig!.reason}`);
    const inviteState = await this.checkInviteRoomState(input.inviteRoomState, input.roomId, version);

    const signed = signEvent(checked.pdu, this.d.serverName, this.d.signingKey, version);
    const withoutUnsigned: JsonObject = { ...signed };
    delete withoutUnsigned.unsigned;
    await this.recordInvite(withoutUnsigned, version, inviteState, origin);
    return withoutUnsigned;
  }

  /**
   * invite_room_state (spec v1.16: PDUs of the room's version, the create event among them). Room
   * versions 1-11 keep the lenient behaviour the spec allows while servers migrate (stripped events
   * are kept); from v12 the create event is required and every entry must be a PDU of this room
   * with valid signatures.
   */
  private async checkInviteRoomState(raw: unknown, roomId: string, version: RoomVersion): Promise<JsonObject[]> {
    if (raw === undefined || raw === null) {
      if (version.roomIdFromCreateEvent) throw new MatrixError('M_MISSING_PARAM', 'invite_room_state must hold the m.room.create event', 400);
      return [];
    }
    if (!Array.isArray(raw)) throw invalid('invite_room_state must be a list');
    const items = raw.filter(isJsonObject).filter((e) => typeof e.type === 'string' && typeof e.state_key === 'string');
    if (!version.roomIdFromCreateEvent) return items.slice(0, 100);
    if (!items.some((e) => e.type === 'm.room.create' && e.state_key === '')) {
      throw new MatrixError('M_MISSING_PARAM', 'invite_room_state must hold the m.room.create event', 400);
    }
    const formats = items.map((e) => checkPduFormat({ pdu: e }, version, { roomId }));
    const bad = formats.find((f) => !f.ok);
    if (bad && !bad.ok) throw invalid(`invite_room_state: ${bad.error}`);
    const sigs = await this.d.keyRing.verifyEventSignatures(items.map((pdu) => ({ pdu, version })));
    const badSig = sigs.find((s) => !s.ok);
    if (badSig && !badSig.ok) throw invalid(`invite_room_state: ${badSig.reason}`);
    return items.slice(0, 100);
  }

  private async recordInvite(signed: JsonObject, version: RoomVersion, inviteState: JsonObject[], origin: string): Promise<void> {
    const roomId = signed.room_id as string;
    // We are in the room: the invite is an ordinary event of it (it also arrives through /send).
    if (this.reads.roomWithState(roomId) && this.reads.isServerJoined(roomId, this.d.serverName)) {
      const r = await this.d.rooms.acceptEvent(signed, version, { jsonText: JSON.stringify(signed) });
      if (r.status === 'rejected') throw new MatrixError('M_FORBIDDEN', `The invite is not allowed: ${r.reason}`, 403);
      if (r.status === 'accepted' || r.status === 'soft_failed') return;
      this.d.logger?.info({ roomId, origin, reason: r.reason }, 'invite not accepted into the room state; recorded out of band');
    }
    const stored: JsonObject = { ...signed, unsigned: { invite_room_state: inviteState } };
    const r = await this.d.rooms.acceptEvent(stored, version, { outOfBandMembership: true, jsonText: JSON.stringify(stored) });
    if (r.status === 'dropped' || r.status === 'missing') throw invalid(`The invite cannot be stored: ${r.reason}`);
  }
}

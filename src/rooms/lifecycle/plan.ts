// Pure planning of a new room (client-server API POST /createRoom, and room upgrades): the request
// checked and normalised, the presets, the default power levels, the events in the order the spec
// lists them, and a dry run of the authorisation rules over those events, so that a request whose
// state cannot be built is refused (400 M_INVALID_ROOM_STATE) before anything is written.
import { checkAuth, type AuthResult } from '../../core/auth/rules.js';
import { stateTuple, type RoomEvent } from '../../core/events/event.js';
import { getRoomVersion, type RoomVersion } from '../../core/events/room-versions.js';
import { MAX_PDU_BYTES, pduSizeBytes } from '../../core/events/pdu.js';
import { fitsIdLength, isValidRoomAlias, isValidUserId, serverNameOf } from '../../core/ids.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../core/json/types.js';
import { firstNonCanonicalNumber } from '../../core/json/canonical.js';
import { MatrixError } from '../../errors.js';

export type Preset = 'private_chat' | 'trusted_private_chat' | 'public_chat';

interface PresetConfig {
  readonly joinRule: 'invite' | 'public';
  readonly historyVisibility: 'shared';
  /** Adds m.room.guest_access `can_join`. */
  readonly guestCanJoin: boolean;
  /** trusted_private_chat: invitees get the creator's power (v12: they become additional creators). */
  readonly inviteesAreAdmins: boolean;
  /** The invite level of the default power levels. */
  readonly inviteLevel: number;
}

/** The presets table of POST /createRoom; the invite levels are Synapse's (0 in private rooms). */
export const PRESETS: Readonly<Record<Preset, PresetConfig>> = {
  private_chat: { joinRule: 'invite', historyVisibility: 'shared', guestCanJoin: true, inviteesAreAdmins: false, inviteLevel: 0 },
  trusted_private_chat: { joinRule: 'invite', historyVisibility: 'shared', guestCanJoin: true, inviteesAreAdmins: true, inviteLevel: 0 },
  public_chat: { joinRule: 'public', historyVisibility: 'shared', guestCanJoin: false, inviteesAreAdmins: false, inviteLevel: 50 },
};

export interface StateEventInput {
  readonly type: string;
  readonly stateKey: string;
  readonly content: JsonObject;
}

/** A POST /createRoom body, checked. */
export interface CreateRoomRequest {
  readonly visibility: 'public' | 'private';
  readonly preset: Preset;
  readonly version: RoomVersion;
  /** The full alias to create from room_alias_name (`#name:server`). */
  readonly alias?: string;
  readonly name?: string;
  readonly topic?: string;
  /** Invitees, without duplicates. */
  readonly invite: readonly string[];
  /** Entries of invite_3pid (each with medium, address, id_server and id_access_token). */
  readonly invite3pid: readonly JsonObject[];
  readonly isDirect: boolean;
  readonly creationContent: JsonObject;
  /** initial_state with later entries for the same (type, state_key) replacing earlier ones in place. */
  readonly initialState: readonly StateEventInput[];
  readonly powerLevelOverride?: JsonObject;
}

/** An event of the plan after the create event. */
export interface PlannedEvent {
  readonly type: string;
  readonly stateKey: string;
  readonly content: JsonObject;
}

export interface RoomCreationPlan {
  readonly version: RoomVersion;
  readonly creator: string;
  /** Content of m.room.create (room_version and, v1-v10, creator included). */
  readonly createContent: JsonObject;
  /** State events after the create event, in the spec's order: the creator's join first. */
  readonly events: readonly PlannedEvent[];
  /** Users to invite last (their member events are built by the caller: profiles, remote servers). */
  readonly invitees: readonly string[];
}

const MAX_ALIAS_BYTES = 255;

function badJson(message: string): MatrixError {
  return new MatrixError('M_BAD_JSON', message, 400);
}

function optionalString(body: JsonObject, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badJson(`"${key}" must be a string`);
  return v;
}

function optionalObject(body: JsonObject, key: string): JsonObject | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (!isJsonObject(v)) throw badJson(`"${key}" must be an object`);
  return v;
}

/**
 * The alias `#localpart:server` for room_alias_name, or 400 M_INVALID_PARAM: the local part must be
 * non-empty, without whitespace or ':' (a full alias is a common mistake), and the alias valid.
 */
export function aliasFromLocalpart(localpart: string, serverName: string): string {
  if (localpart.length === 0) throw new MatrixError('M_INVALID_PARAM', 'room_alias_name must not be empty', 400);
  if (/\s/u.test(localpart)) throw new MatrixError('M_INVALID_PARAM', 'Invalid characters in room alias', 400);
  if (localpart.includes(':')) {
    throw new MatrixError('M_INVALID_PARAM', "':' is not permitted in room_alias_name: it is the local part ('wombat', not '#wombat:example.org')", 400);
  }
  const alias = `#${localpart}:${serverName}`;
  if (!isValidRoomAlias(alias) || Buffer.byteLength(alias, 'utf8') > MAX_ALIAS_BYTES) {
    throw new MatrixError('M_INVALID_PARAM', `Invalid room alias ${alias}`, 400);
  }
  return alias;
}

/**
 * Checks a POST /createRoom body. Errors: M_NOT_JSON/M_BAD_JSON for wrong shapes, M_INVALID_PARAM
 * for bad aliases and user IDs, M_MISSING_PARAM for incomplete invite_3pid entries, 400
 * M_UNSUPPORTED_ROOM_VERSION for unknown versions.
 */
export function parseCreateRoomRequest(body: unknown, opts: { serverName: string; defaultRoomVersion: string }): CreateRoomRequest {
  if (body === undefined) body = {};
  if (!isJsonObject(body)) throw new MatrixError('M_NOT_JSON', 'Content must be a JSON object', 400);

  const visibilityRaw = optionalString(body, 'visibility') ?? 'private';
  if (visibilityRaw !== 'public' && visibilityRaw !== 'private') {
    throw new MatrixError('M_INVALID_PARAM', `"visibility" must be "public" or "private"`, 400);
  }
  const presetRaw = optionalString(body, 'preset') ?? (visibilityRaw === 'public' ? 'public_chat' : 'private_chat');
  if (!Object.hasOwn(PRESETS, presetRaw)) throw badJson(`'${presetRaw}' is not a valid preset`);

  const versionId = body.room_version === undefined || body.room_version === null ? opts.defaultRoomVersion : body.room_version;
  if (typeof versionId !== 'string') throw badJson('"room_version" must be a string');
  const version = getRoomVersion(versionId);
  if (!version) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', `This server does not support room version ${versionId}`, 400);

  const aliasName = optionalString(body, 'room_alias_name');
  const alias = aliasName === undefined ? undefined : aliasFromLocalpart(aliasName, opts.serverName);

  const invite: string[] = [];
  if (body.invite !== undefined && body.invite !== null) {
    if (!Array.isArray(body.invite)) throw badJson('"invite" must be a list of user IDs');
    for (const u of body.invite) {
      if (typeof u !== 'string' || !isValidUserId(u)) throw new MatrixError('M_INVALID_PARAM', `Invalid user_id: ${String(u)}`, 400);
      if (!invite.includes(u)) invite.push(u);
    }
  }
  const invite3pid: JsonObject[] = [];
  if (body.invite_3pid !== undefined && body.invite_3pid !== null) {
    if (!Array.isArray(body.invite_3pid)) throw badJson('"invite_3pid" must be a list');
    for (const entry of body.invite_3pid) {
      if (!isJsonObject(entry)) throw badJson('invite_3pid entries must be objects');
      for (const key of ['medium', 'address', 'id_server', 'id_access_token']) {
        if (typeof entry[key] !== 'string') {
          throw new MatrixError('M_MISSING_PARAM', 'all of `medium`, `address`, `id_server` and `id_access_token` are required when making a 3pid invite', 400);
        }
      }
      invite3pid.push(entry);
    }
  }

  const isDirectRaw = body.is_direct;
  if (isDirectRaw !== undefined && isDirectRaw !== null && typeof isDirectRaw !== 'boolean') throw badJson('"is_direct" must be a boolean');

  const creationContent = optionalObject(body, 'creation_content') ?? {};
  if (version.creatorsHaveInfinitePower && creationContent.additional_creators !== undefined) {
    const extra = creationContent.additional_creators;
    if (!Array.isArray(extra) || !extra.every((c) => typeof c === 'string' && isValidUserId(c))) {
      throw new MatrixError('M_INVALID_PARAM', '"additional_creators" must be a list of user IDs', 400);
    }
  }

  const initialState: StateEventInput[] = [];
  const positions = new Map<string, number>();
  if (body.initial_state !== undefined && body.initial_state !== null) {
    if (!Array.isArray(body.initial_state)) throw badJson('"initial_state" must be a list of state events');
    for (const ev of body.initial_state) {
      if (!isJsonObject(ev)) throw badJson('initial_state entries must be objects');
      if (typeof ev.type !== 'string' || ev.type.length === 0) throw badJson('initial_state entries need a "type"');
      const stateKey = ev.state_key === undefined || ev.state_key === null ? '' : ev.state_key;
      if (typeof stateKey !== 'string') throw badJson('"state_key" of initial_state entries must be a string');
      if (!isJsonObject(ev.content)) throw badJson('initial_state entries need a "content" object');
      const entry: StateEventInput = { type: ev.type, stateKey, content: ev.content };
      const key = stateTuple(ev.type, stateKey);
      const at = positions.get(key);
      if (at === undefined) {
        positions.set(key, initialState.length);
        initialState.push(entry);
      } else initialState[at] = entry;
    }
  }

  const name = optionalString(body, 'name');
  const topic = optionalString(body, 'topic');
  const powerLevelOverride = optionalObject(body, 'power_level_content_override');
  return {
    visibility: visibilityRaw,
    preset: presetRaw as Preset,
    version,
    ...(alias !== undefined ? { alias } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(topic !== undefined ? { topic } : {}),
    invite,
    invite3pid,
    isDirect: isDirectRaw === true,
    creationContent,
    initialState,
    ...(powerLevelOverride !== undefined ? { powerLevelOverride } : {}),
  };
}

/**
 * The default m.room.power_levels content (Synapse's defaults): the creator at 100 in v1-v11 and
 * not listed in v12 (creators have infinite power), admin-only power levels, history visibility,
 * server ACLs, encryption and tombstones; in v12 the tombstone level is 150, above state_default
 * and above any level a moderator can hand out, as POST /createRoom requires.
 */
export function defaultPowerLevels(version: RoomVersion, creator: string, preset: Preset, invitees: readonly string[]): JsonObject {
  const users: JsonObject = {};
  if (!version.creatorsHaveInfinitePower) {
    users[creator] = 100;
    if (PRESETS[preset].inviteesAreAdmins) for (const u of invitees) users[u] = 100;
  }
  return {
    users,
    users_default: 0,
    events: {
      'm.room.name': 50,
      'm.room.power_levels': 100,
      'm.room.history_visibility': 100,
      'm.room.canonical_alias': 50,
      'm.room.avatar': 50,
      'm.room.tombstone': version.creatorsHaveInfinitePower ? 150 : 100,
      'm.room.server_acl': 100,
      'm.room.encryption': 100,
    },
    events_default: 0,
    state_default: 50,
    ban: 50,
    kick: 50,
    redact: 50,
    invite: PRESETS[preset].inviteLevel,
  };
}

/** The creators of a v12 room created by `creator` with this create content. */
export function creatorsOf(version: RoomVersion, creator: string, createContent: JsonObject): Set<string> {
  const out = new Set([creator]);
  if (version.creatorsHaveInfinitePower && Array.isArray(createContent.additional_creators)) {
    for (const c of createContent.additional_creators) if (typeof c === 'string') out.add(c);
  }
  return out;
}

/** Removes the creators from `users` of power levels content (v12 rule: they cannot be listed). */
export function withoutCreators(content: JsonObject, creators: ReadonlySet<string>): JsonObject {
  if (!isJsonObject(content.users)) return content;
  const users: JsonObject = {};
  let removed = false;
  for (const [u, level] of Object.entries(content.users)) {
    if (creators.has(u)) removed = true;
    else users[u] = level;
  }
  return removed ? { ...content, users } : content;
}

/** The create content: creation_content plus room_version; `creator` set (v1-v10) or dropped (v11+). */
export function buildCreateContent(version: RoomVersion, creator: string, creationContent: JsonObject): JsonObject {
  const content: JsonObject = { ...creationContent, room_version: version.id };
  if (version.creatorInCreateContent) content.creator = creator;
  else delete content.creator;
  return content;
}

/**
 * The events of a new room, in the order of POST /createRoom: the creator's join, the power levels
 * (initial_state's if given, else the defaults with the override applied on top), the canonical
 * alias, the preset's join rules, history visibility and guest access (each unless initial_state
 * has it), initial_state, then name and topic. Invitees come last, built by the caller.
 */
export function planRoomCreation(
  req: CreateRoomRequest,
  creator: string,
  creatorJoinContent: JsonObject,
): RoomCreationPlan {
  const version = req.version;
  const preset = PRESETS[req.preset];
  let creationContent = req.creationContent;
  if (version.creatorsHaveInfinitePower && preset.inviteesAreAdmins && req.invite.length > 0) {
    // v12 trusted_private_chat: the invitees join additional_creators (deduplicated).
    const extra = Array.isArray(creationContent.additional_creators) ? (creationContent.additional_creators as string[]) : [];
    creationContent = { ...creationContent, additional_creators: [...new Set([...extra, ...req.invite.filter((u) => u !== creator)])] };
  }
  const createContent = buildCreateContent(version, creator, creationContent);
  const creators = creatorsOf(version, creator, createContent);

  const initial = new Map(req.initialState.map((e) => [stateTuple(e.type, e.stateKey), e]));
  const has = (type: string) => initial.has(stateTuple(type, ''));
  const events: PlannedEvent[] = [{ type: 'm.room.member', stateKey: creator, content: creatorJoinContent }];

  const plKey = stateTuple('m.room.power_levels', '');
  let powerLevels = initial.get(plKey)?.content;
  if (!powerLevels) {
    powerLevels = { ...defaultPowerLevels(version, creator, req.preset, req.invite), ...(req.powerLevelOverride ?? {}) };
  }
  // v12 creators are never listed (they have infinite power anyway); clients written for older
  // versions still name the creator in their override.
  if (version.creatorsHaveInfinitePower) powerLevels = withoutCreators(powerLevels, creators);
  events.push({ type: 'm.room.power_levels', stateKey: '', content: powerLevels });

  if (req.alias !== undefined && !has('m.room.canonical_alias')) {
    events.push({ type: 'm.room.canonical_alias', stateKey: '', content: { alias: req.alias } });
  }
  if (!has('m.room.join_rules')) events.push({ type: 'm.room.join_rules', stateKey: '', content: { join_rule: preset.joinRule } });
  if (!has('m.room.history_visibility')) {
    events.push({ type: 'm.room.history_visibility', stateKey: '', content: { history_visibility: preset.historyVisibility } });
  }
  if (preset.guestCanJoin && !has('m.room.guest_access')) {
    events.push({ type: 'm.room.guest_access', stateKey: '', content: { guest_access: 'can_join' } });
  }
  for (const e of req.initialState) {
    if (e.type === 'm.room.power_levels' && e.stateKey === '') continue;
    events.push({ type: e.type, stateKey: e.stateKey, content: e.content });
  }
  if (req.name !== undefined) events.push({ type: 'm.room.name', stateKey: '', content: { name: req.name } });
  if (req.topic !== undefined) {
    // Spec v1.15 m.room.topic: the plain text plus the m.topic content block (mimetype defaults to text/plain).
    events.push({ type: 'm.room.topic', stateKey: '', content: { topic: req.topic, 'm.topic': { 'm.text': [{ body: req.topic }] } } });
  }
  return { version, creator, createContent, events, invitees: req.invite };
}


/**
 * The limits every event of the plan must meet before it is built: type and state_key at most 255
 * bytes (400 M_INVALID_PARAM), integers within ±(2^53-1) only (400 M_BAD_JSON), a PDU under 65536 bytes
 * (413 M_TOO_LARGE; estimated with room for the references, hashes and signature added later).
 */
export function checkPlanLimits(plan: RoomCreationPlan): void {
  const events: PlannedEvent[] = [{ type: 'm.room.create', stateKey: '', content: plan.createContent }, ...plan.events];
  for (const ev of events) checkEventLimits(plan.creator, ev);
}

/** The limits of checkPlanLimits for one local event. */
export function checkEventLimits(sender: string, ev: PlannedEvent): void {
  if (!fitsIdLength(ev.type)) throw new MatrixError('M_INVALID_PARAM', 'Event type is longer than 255 bytes', 400);
  if (!fitsIdLength(ev.stateKey)) throw new MatrixError('M_INVALID_PARAM', 'State key is longer than 255 bytes', 400);
  // v6+ require it. v1-v5 would allow fractions (room-events.ts accepts them in later events, as
  // Synapse does), but a new room's own events keep to integers so that servers whose canonical
  // JSON has no fractions (Conduit and its forks) can still check and join it.
  const bad = firstNonCanonicalNumber(ev.content);
  if (bad !== undefined) throw new MatrixError('M_BAD_JSON', `${bad} is not an integer within ±(2^53-1), as canonical JSON requires`, 400);
  const server = serverNameOf(sender) ?? '';
  const skeleton: JsonObject = {
    auth_events: Array.from({ length: 10 }, () => '$' + 'x'.repeat(43)),
    content: ev.content,
    depth: Number.MAX_SAFE_INTEGER,
    hashes: { sha256: 'x'.repeat(43) },
    origin_server_ts: Number.MAX_SAFE_INTEGER,
    prev_events: ['$' + 'x'.repeat(43)],
    room_id: '!' + 'x'.repeat(43) + ':' + server,
    sender,
    signatures: { [server]: { 'ed25519:xxxxxxxx': 'x'.repeat(86) } },
    state_key: ev.stateKey,
    type: ev.type,
  };
  if (pduSizeBytes(skeleton) > MAX_PDU_BYTES) throw new MatrixError('M_TOO_LARGE', `${ev.type} would be larger than ${MAX_PDU_BYTES} bytes`, 413);
}

export type DryRunResult = { readonly ok: true } | { readonly ok: false; readonly type: string; readonly stateKey: string; readonly reason: string };

/**
 * Runs the authorisation rules over the plan's events in order, each against the state the events
 * before it built, with stand-in event IDs. Invites are checked as plain invites from the creator.
 */
export function dryRunCreation(plan: RoomCreationPlan): DryRunResult {
  const version = plan.version;
  const createId = '$dry-run-create';
  const roomId = version.roomIdFromCreateEvent ? '!' + createId.slice(1) : `!dry-run:${serverNameOf(plan.creator) ?? 'invalid'}`;
  const create = simEvent(createId, roomId, plan.creator, 'm.room.create', '', plan.createContent, [], version);
  const first = checkAuth(create, [], version);
  if (!first.allowed) return failed('m.room.create', '', first);
  const state = new Map<string, RoomEvent>([[stateTuple('m.room.create', ''), create]]);
  let prev = createId;
  const steps: PlannedEvent[] = [
    ...plan.events,
    ...plan.invitees.map((u) => ({ type: 'm.room.member', stateKey: u, content: { membership: 'invite' } as JsonObject })),
  ];
  let i = 0;
  for (const step of steps) {
    const id = `$dry-run-${++i}`;
    const ev = simEvent(id, roomId, plan.creator, step.type, step.stateKey, step.content, [prev], version);
    const r = checkAuth(ev, [...state.values()], version);
    if (!r.allowed) return failed(step.type, step.stateKey, r);
    state.set(stateTuple(step.type, step.stateKey), ev);
    prev = id;
  }
  return { ok: true };
}

function failed(type: string, stateKey: string, r: AuthResult): DryRunResult {
  return { ok: false, type, stateKey, reason: r.allowed ? '' : r.reason };
}

function simEvent(
  eventId: string,
  roomId: string,
  sender: string,
  type: string,
  stateKey: string,
  content: JsonObject,
  prev: string[],
  version: RoomVersion,
): RoomEvent {
  const json: JsonObject = { type, state_key: stateKey, sender, content };
  if (!(version.roomIdFromCreateEvent && type === 'm.room.create')) json.room_id = roomId;
  return {
    eventId,
    roomId,
    sender,
    type,
    stateKey,
    content,
    originServerTs: 0,
    depth: prev.length + 1,
    prevEventIds: prev,
    authEventIds: [],
    redacts: undefined,
    json,
  };
}

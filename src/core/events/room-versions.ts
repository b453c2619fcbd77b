// Room-version registry (spec "Room Versions", v1 to v12). Every per-version difference in the
// protocol logic is read from here rather than branched on the version string.

export type EventIdFormat = 'v1' | 'v3' | 'v4';
export type RedactionRules = 'v1' | 'v6' | 'v8' | 'v9' | 'v11';
export type StateResAlgorithm = 'v1' | 'v2' | 'v2.1';

export interface RoomVersion {
  readonly id: string;
  readonly stable: boolean;
  /** v1: `$opaque:server` chosen by the sender and carried in the event; v3: `$`+base64 of the
   * reference hash; v4+: `$`+URL-safe base64 of the reference hash. */
  readonly eventIdFormat: EventIdFormat;
  /** v1/v2 PDUs list prev_events/auth_events as `[event_id, {hashes}]` pairs and carry `event_id`. */
  readonly eventRefsArePairs: boolean;
  /** v12: the room ID is `!`+URL-safe base64 of the create event's reference hash, and the create
   * event carries no room_id and is not listed in auth_events. */
  readonly roomIdFromCreateEvent: boolean;
  readonly redactionRules: RedactionRules;
  readonly stateResolution: StateResAlgorithm;
  /** v1-v2: a redaction is allowed at auth time when the redacting and redacted event IDs share a
   * domain (v1-auth-rules). v3+: redactions are checked when served ("Handling redactions"). */
  readonly redactionDomainCheckInAuth: boolean;
  /** v1-v5: the special m.room.aliases auth rule (state_key must be the sender's server). */
  readonly specialCaseAliasesAuth: boolean;
  /** v6+: numbers must be integers within ±(2^53-1); floats and big integers are rejected. */
  readonly strictCanonicalJson: boolean;
  /** v5+: events signed with a key whose valid_until_ts is before origin_server_ts are rejected. */
  readonly enforceKeyValidity: boolean;
  /** v6+: the `notifications` key of m.room.power_levels is checked in the auth rules. */
  readonly notificationsPowerLevel: boolean;
  /** v7+: knock membership and join rule. */
  readonly knocking: boolean;
  /** v8+: restricted join rule with join_authorised_via_users_server. */
  readonly restrictedJoins: boolean;
  /** v10+: knock_restricted join rule. */
  readonly knockRestricted: boolean;
  /** v10+: power level values must be integers (no strings). */
  readonly integerPowerLevels: boolean;
  /** v1-v10: the room creator is content.creator of m.room.create; v11+: the create event's sender. */
  readonly creatorInCreateContent: boolean;
  /** v11+: m.room.redaction carries `redacts` inside content (also kept at top level by clients). */
  readonly redactsInContent: boolean;
  /** v12: creators (sender of create + content.additional_creators) have infinite power and cannot
   * appear in power_levels.users. */
  readonly creatorsHaveInfinitePower: boolean;
}

type Flags = Omit<RoomVersion, 'id' | 'stable'>;

const V1: Flags = {
  eventIdFormat: 'v1',
  eventRefsArePairs: true,
  roomIdFromCreateEvent: false,
  redactionRules: 'v1',
  stateResolution: 'v1',
  redactionDomainCheckInAuth: true,
  specialCaseAliasesAuth: true,
  strictCanonicalJson: false,
  enforceKeyValidity: false,
  notificationsPowerLevel: false,
  knocking: false,
  restrictedJoins: false,
  knockRestricted: false,
  integerPowerLevels: false,
  creatorInCreateContent: true,
  redactsInContent: false,
  creatorsHaveInfinitePower: false,
};
const V2: Flags = { ...V1, stateResolution: 'v2' };
const V3: Flags = { ...V2, eventIdFormat: 'v3', eventRefsArePairs: false, redactionDomainCheckInAuth: false };
const V4: Flags = { ...V3, eventIdFormat: 'v4' };
const V5: Flags = { ...V4, enforceKeyValidity: true };
const V6: Flags = {
  ...V5,
  redactionRules: 'v6',
  specialCaseAliasesAuth: false,
  strictCanonicalJson: true,
  notificationsPowerLevel: true,
};
const V7: Flags = { ...V6, knocking: true };
const V8: Flags = { ...V7, redactionRules: 'v8', restrictedJoins: true };
const V9: Flags = { ...V8, redactionRules: 'v9' };
const V10: Flags = { ...V9, knockRestricted: true, integerPowerLevels: true };
const V11: Flags = { ...V10, redactionRules: 'v11', creatorInCreateContent: false, redactsInContent: true };
const V12: Flags = { ...V11, roomIdFromCreateEvent: true, stateResolution: 'v2.1', creatorsHaveInfinitePower: true };

const ALL: Record<string, Flags> = {
  '1': V1, '2': V2, '3': V3, '4': V4, '5': V5, '6': V6,
  '7': V7, '8': V8, '9': V9, '10': V10, '11': V11, '12': V12,
};

const REGISTRY: ReadonlyMap<string, RoomVersion> = new Map(
  Object.entries(ALL).map(([id, flags]) => [id, Object.freeze({ id, stable: true, ...flags })]),
);

/** The spec's default room version (v1.19). */
export const DEFAULT_ROOM_VERSION = '12';

export function getRoomVersion(id: string): RoomVersion | undefined {
  return REGISTRY.get(id);
}

export function requireRoomVersion(id: string): RoomVersion {
  const v = REGISTRY.get(id);
  if (!v) throw new Error(`unsupported room version ${JSON.stringify(id)}`);
  return v;
}

export function supportedRoomVersions(): RoomVersion[] {
  return [...REGISTRY.values()];
}

// Power levels as the auth rules and state resolution read them: parsing m.room.power_levels
// content per room version (v1-v9 stringy and v1-v5 floaty values, v10+ integers only), a user's
// level (v12 creators: Infinity), the level required to send an event, power events, room creators.

import { isJsonObject, type JsonObject, type JsonValue } from '../json/types.js';
import type { RoomEvent } from '../events/event.js';
import type { RoomVersion } from '../events/room-versions.js';

export interface ParsedPowerLevels {
  /** Explicit per-user levels (`users`). */
  readonly users: ReadonlyMap<string, number>;
  /** Per-event-type levels (`events`). */
  readonly events: ReadonlyMap<string, number>;
  /** `notifications` levels (only meaningful to the auth rules from v6). */
  readonly notifications: ReadonlyMap<string, number>;
  /** The top-level levels as written; undefined when absent (the defaults apply then). */
  readonly usersDefault: number | undefined;
  readonly eventsDefault: number | undefined;
  readonly stateDefault: number | undefined;
  readonly ban: number | undefined;
  readonly kick: number | undefined;
  readonly redact: number | undefined;
  readonly invite: number | undefined;
}

/** The top-level integer properties the auth rules compare (v1 rule 10.3, v10 rule 9.1). */
export const TOP_LEVEL_POWER_KEYS = [
  'users_default',
  'events_default',
  'state_default',
  'ban',
  'redact',
  'kick',
  'invite',
] as const;
export type TopLevelPowerKey = (typeof TOP_LEVEL_POWER_KEYS)[number];

const FIELD_OF: Record<TopLevelPowerKey, keyof ParsedPowerLevels> = {
  users_default: 'usersDefault',
  events_default: 'eventsDefault',
  state_default: 'stateDefault',
  ban: 'ban',
  redact: 'redact',
  kick: 'kick',
  invite: 'invite',
};

export function topLevelValue(pl: ParsedPowerLevels, key: TopLevelPowerKey): number | undefined {
  return pl[FIELD_OF[key]] as number | undefined;
}

/** Defaults (server-server-api "Definitions"; m.room.power_levels schema). */
export const DEFAULT_INVITE_LEVEL = 0;
export const DEFAULT_KICK_LEVEL = 50;
export const DEFAULT_BAN_LEVEL = 50;
export const DEFAULT_REDACT_LEVEL = 50;
export const DEFAULT_STATE_LEVEL = 50;
export const DEFAULT_EVENTS_LEVEL = 0;
export const DEFAULT_USERS_LEVEL = 0;
/** v1-v11: with no m.room.power_levels event the creator has 100. */
export const CREATOR_LEVEL_WITHOUT_POWER_LEVELS = 100;

// v1-stringy-power-levels: optional surrounding whitespace, optional sign, base-10 digits
// (leading zeroes allowed). No decimal points, no exponents.
const STRINGY_INT_RE = /^\s*[+-]?[0-9]+\s*$/;

/**
 * One power level value, or undefined when the room version does not accept it.
 * - v10+ (`integerPowerLevels`): JSON integers only.
 * - v6-v9: integers or stringy integers; floats cannot appear (canonical JSON, v6) and are refused.
 * - v1-v5: also floats, truncated towards zero (v1-floaty-power-levels); non-finite is refused.
 * Stringy values beyond 2^53 lose precision; no real room relies on such levels.
 */
export function parsePowerLevelValue(v: JsonValue | undefined, version: RoomVersion): number | undefined {
  if (typeof v === 'number') {
    if (Number.isInteger(v)) {
      // +0 for -0 so that equality and Map keys behave.
      return version.strictCanonicalJson && !Number.isSafeInteger(v) ? undefined : v + 0;
    }
    if (version.strictCanonicalJson || version.integerPowerLevels || !Number.isFinite(v)) return undefined;
    return Math.trunc(v) + 0;
  }
  if (typeof v === 'string' && !version.integerPowerLevels && STRINGY_INT_RE.test(v)) {
    return Number(v.trim()) + 0;
  }
  return undefined;
}

/** A map of levels (`users`, `events`, `notifications`); null if `strict` and any value is invalid. */
function parseLevelMap(v: JsonValue | undefined, version: RoomVersion, strict: boolean): Map<string, number> | null {
  const out = new Map<string, number>();
  if (v === undefined) return out;
  if (!isJsonObject(v)) return strict ? null : out;
  for (const key of Object.keys(v)) {
    const level = parsePowerLevelValue(v[key], version);
    if (level === undefined) {
      if (strict) return null;
      continue;
    }
    out.set(key, level);
  }
  return out;
}

function parse(content: JsonObject, version: RoomVersion, strict: boolean): ParsedPowerLevels | null {
  const users = parseLevelMap(content.users, version, strict);
  const events = parseLevelMap(content.events, version, strict);
  // `notifications` only takes part in the auth rules from v6; earlier it is ignored, not judged.
  const notifications = version.notificationsPowerLevel
    ? parseLevelMap(content.notifications, version, strict)
    : parseLevelMap(content.notifications, version, false);
  if (!users || !events || !notifications) return null;
  const top: Partial<Record<TopLevelPowerKey, number>> = {};
  for (const key of TOP_LEVEL_POWER_KEYS) {
    const raw = content[key];
    if (raw === undefined) continue;
    const level = parsePowerLevelValue(raw, version);
    if (level === undefined) {
      if (strict) return null;
      continue;
    }
    top[key] = level;
  }
  return {
    users,
    events,
    notifications,
    usersDefault: top.users_default,
    eventsDefault: top.events_default,
    stateDefault: top.state_default,
    ban: top.ban,
    kick: top.kick,
    redact: top.redact,
    invite: top.invite,
  };
}

// Parses are cached per content object and room version: state resolution asks for the same
// power levels event thousands of times. Content objects of RoomEvents are never mutated.
const strictCache = new WeakMap<JsonObject, Map<string, ParsedPowerLevels | null>>();
const lenientCache = new WeakMap<JsonObject, Map<string, ParsedPowerLevels>>();

/**
 * Parses m.room.power_levels content for comparisons, strictly: null when any present level
 * (top-level, `users`, `events`, from v6 `notifications`) is not a valid value for the version.
 * It does not judge `users` keys; the auth rules check those on the event being authorised.
 */
export function parsePowerLevelsContent(content: JsonObject, version: RoomVersion): ParsedPowerLevels | null {
  let byVersion = strictCache.get(content);
  if (!byVersion) strictCache.set(content, (byVersion = new Map()));
  if (byVersion.has(version.id)) return byVersion.get(version.id)!;
  const parsed = parse(content, version, true);
  byVersion.set(version.id, parsed);
  return parsed;
}

/**
 * Parses content for look-ups: invalid entries are treated as absent, so a malformed value that
 * an older server let into the state falls back to its default instead of breaking the room.
 */
export function parsePowerLevelsLenient(content: JsonObject, version: RoomVersion): ParsedPowerLevels {
  let byVersion = lenientCache.get(content);
  if (!byVersion) lenientCache.set(content, (byVersion = new Map()));
  let parsed = byVersion.get(version.id);
  if (!parsed) {
    parsed = parse(content, version, false)!;
    byVersion.set(version.id, parsed);
  }
  return parsed;
}

/**
 * The room creators: v12 the create event's sender plus every string in
 * `content.additional_creators`; v11 the sender; v1-v10 `content.creator`.
 */
export function roomCreators(create: RoomEvent, version: RoomVersion): Set<string> {
  const creators = new Set<string>();
  if (version.creatorInCreateContent) {
    const creator = create.content.creator;
    if (typeof creator === 'string') creators.add(creator);
    return creators;
  }
  creators.add(create.sender);
  if (version.creatorsHaveInfinitePower) {
    const extra = create.content.additional_creators;
    if (Array.isArray(extra)) for (const c of extra) if (typeof c === 'string') creators.add(c);
  }
  return creators;
}

/** The single "creator" of v1-v11 rules (join rule "only previous event is the create"). */
export function primaryCreator(create: RoomEvent, version: RoomVersion): string | undefined {
  if (version.creatorInCreateContent) {
    const creator = create.content.creator;
    return typeof creator === 'string' ? creator : undefined;
  }
  return create.sender;
}

function isCreator(userId: string, create: RoomEvent, version: RoomVersion): boolean {
  if (!version.creatorsHaveInfinitePower) return false;
  if (create.sender === userId) return true;
  const extra = create.content.additional_creators;
  return Array.isArray(extra) && extra.includes(userId);
}

/**
 * A user's power level (the "Power levels are inferred from defaults" note):
 * v12 creators have Infinity; otherwise `users[userId]`, else `users_default`, else 0; with no
 * power levels event, v1-v11 give the creator 100 and everyone else 0.
 */
export function userPowerLevel(
  userId: string,
  powerLevels: RoomEvent | undefined,
  create: RoomEvent | undefined,
  version: RoomVersion,
): number {
  if (create && isCreator(userId, create, version)) return Infinity;
  if (powerLevels) {
    const pl = parsePowerLevelsLenient(powerLevels.content, version);
    return pl.users.get(userId) ?? pl.usersDefault ?? DEFAULT_USERS_LEVEL;
  }
  if (create && !version.creatorsHaveInfinitePower && primaryCreator(create, version) === userId) {
    return CREATOR_LEVEL_WITHOUT_POWER_LEVELS;
  }
  return DEFAULT_USERS_LEVEL;
}

/**
 * The *required power level* of an event type (server-server-api "Definitions"): `events[type]`,
 * else `state_default` (50) for state events or `events_default` (0) for others.
 */
export function eventPowerLevelRequired(
  type: string,
  isState: boolean,
  powerLevels: RoomEvent | undefined,
  version: RoomVersion,
): number {
  if (!powerLevels) return isState ? DEFAULT_STATE_LEVEL : DEFAULT_EVENTS_LEVEL;
  const pl = parsePowerLevelsLenient(powerLevels.content, version);
  const explicit = pl.events.get(type);
  if (explicit !== undefined) return explicit;
  return isState ? (pl.stateDefault ?? DEFAULT_STATE_LEVEL) : (pl.eventsDefault ?? DEFAULT_EVENTS_LEVEL);
}

export type NamedPowerLevel = 'invite' | 'kick' | 'ban' | 'redact';

const NAMED_DEFAULTS: Record<NamedPowerLevel, number> = {
  invite: DEFAULT_INVITE_LEVEL,
  kick: DEFAULT_KICK_LEVEL,
  ban: DEFAULT_BAN_LEVEL,
  redact: DEFAULT_REDACT_LEVEL,
};

/** The invite / kick / ban / redact level, with the spec's defaults (0 / 50 / 50 / 50). */
export function namedPowerLevel(name: NamedPowerLevel, powerLevels: RoomEvent | undefined, version: RoomVersion): number {
  if (!powerLevels) return NAMED_DEFAULTS[name];
  return parsePowerLevelsLenient(powerLevels.content, version)[name] ?? NAMED_DEFAULTS[name];
}

/**
 * A power event as state resolution v2 defines it: m.room.power_levels or m.room.join_rules, or
 * an m.room.member leave/ban whose sender is not its state_key (a kick or ban). Like Synapse and
 * Ruma, m.room.create counts too and all three need the empty state_key; the spec's prose names
 * only the first two, but every deployed implementation sorts the create event as a power event.
 */
export function isPowerEvent(event: RoomEvent): boolean {
  if (event.stateKey === undefined) return false;
  switch (event.type) {
    case 'm.room.power_levels':
    case 'm.room.join_rules':
    case 'm.room.create':
      return event.stateKey === '';
    case 'm.room.member': {
      const membership = event.content.membership;
      return (membership === 'leave' || membership === 'ban') && event.sender !== event.stateKey;
    }
    default:
      return false;
  }
}

// The redaction algorithm (rooms/vN "Redactions"; fragments v1-, v6-, v9-, v11-redactions and the
// v8 page): which top-level keys and which content keys of a PDU survive redaction.

import { isJsonObject, type JsonObject, type JsonValue } from '../json/types.js';
import type { RedactionRules, RoomVersion } from './room-versions.js';

/** A rule set as data: kept top-level keys, and kept content keys per event type ('*' = all). */
interface RuleSet {
  readonly topLevel: ReadonlySet<string>;
  readonly content: ReadonlyMap<string, ReadonlySet<string> | '*'>;
  /** v11+: m.room.member keeps `content.third_party_invite.signed`. */
  readonly keepThirdPartyInviteSigned: boolean;
}

const TOP_LEVEL_V1 = [
  'event_id', 'type', 'room_id', 'sender', 'state_key', 'content', 'hashes', 'signatures', 'depth',
  'prev_events', 'prev_state', 'auth_events', 'origin', 'origin_server_ts', 'membership',
];
// v11 (MSC2176) stops protecting the deprecated `origin`, `membership` and `prev_state`.
const TOP_LEVEL_V11 = TOP_LEVEL_V1.filter((k) => k !== 'origin' && k !== 'membership' && k !== 'prev_state');

const PL_V1 = ['ban', 'events', 'events_default', 'kick', 'redact', 'state_default', 'users', 'users_default'];

function rules(
  topLevel: string[],
  content: Record<string, string[] | '*'>,
  keepThirdPartyInviteSigned = false,
): RuleSet {
  return {
    topLevel: new Set(topLevel),
    content: new Map(Object.entries(content).map(([t, keys]) => [t, keys === '*' ? '*' : new Set(keys)])),
    keepThirdPartyInviteSigned,
  };
}

const V1_CONTENT: Record<string, string[] | '*'> = {
  'm.room.member': ['membership'],
  'm.room.create': ['creator'],
  'm.room.join_rules': ['join_rule'],
  'm.room.power_levels': PL_V1,
  'm.room.aliases': ['aliases'],
  'm.room.history_visibility': ['history_visibility'],
};
// v6 (MSC2432): m.room.aliases content is no longer protected.
const V6_CONTENT: Record<string, string[] | '*'> = { ...V1_CONTENT };
delete V6_CONTENT['m.room.aliases'];
// v8 (MSC3083): join rules keep `allow`.
const V8_CONTENT = { ...V6_CONTENT, 'm.room.join_rules': ['join_rule', 'allow'] };
// v9 (MSC3375): member events keep `join_authorised_via_users_server`.
const V9_CONTENT = { ...V8_CONTENT, 'm.room.member': ['membership', 'join_authorised_via_users_server'] };
// v11 (MSC2176, MSC3821, MSC3989): whole create content, power-level `invite`, redaction `redacts`,
// and member `third_party_invite.signed`.
const V11_CONTENT: Record<string, string[] | '*'> = {
  ...V9_CONTENT,
  'm.room.create': '*',
  'm.room.power_levels': [...PL_V1, 'invite'],
  'm.room.redaction': ['redacts'],
};

const RULE_SETS: Record<RedactionRules, RuleSet> = {
  v1: rules(TOP_LEVEL_V1, V1_CONTENT),
  v6: rules(TOP_LEVEL_V1, V6_CONTENT),
  v8: rules(TOP_LEVEL_V1, V8_CONTENT),
  v9: rules(TOP_LEVEL_V1, V9_CONTENT),
  v11: rules(TOP_LEVEL_V11, V11_CONTENT, true),
};

function redactContent(type: unknown, content: unknown, set: RuleSet): JsonObject {
  const out: JsonObject = {};
  if (typeof type !== 'string' || !isJsonObject(content)) return out;
  const allowed = set.content.get(type);
  if (allowed === '*') return { ...content };
  if (allowed) {
    for (const k of allowed) {
      const v = content[k];
      if (v !== undefined) out[k] = v;
    }
  }
  if (set.keepThirdPartyInviteSigned && type === 'm.room.member') {
    // The v11 fragment keeps "the `signed` key of the `third_party_invite` key". When the object
    // has no `signed`, a literal reading drops it; Synapse keeps `third_party_invite: {}` whenever
    // it is an object. We match Synapse, since the result feeds reference hashes (event IDs) and
    // signatures, which must agree with the dominant implementation (test-vectors README trap 4).
    const tpi = content.third_party_invite;
    if (isJsonObject(tpi)) {
      const kept: JsonObject = {};
      if (tpi.signed !== undefined) kept.signed = tpi.signed;
      out.third_party_invite = kept;
    }
  }
  return out;
}

/**
 * Returns the redacted form of a PDU under the room version's redaction rules: only the protected
 * top-level keys (`unsigned` is always dropped), and `content` reduced to the protected keys of the
 * event type (always present, `{}` if nothing survives). The input is never mutated; kept values
 * other than `content` are shared with the input, so treat both as immutable.
 */
export function redactEvent(pdu: JsonObject, version: RoomVersion): JsonObject {
  return redactWithRules(pdu, version.redactionRules);
}

/** `redactEvent` by rule-set name, for callers (and tests) that work per rule set. */
export function redactWithRules(pdu: JsonObject, ruleSet: RedactionRules): JsonObject {
  const set = RULE_SETS[ruleSet];
  const out: JsonObject = {};
  for (const k of Object.keys(pdu)) {
    if (k === 'content' || !set.topLevel.has(k)) continue;
    const v: JsonValue | undefined = pdu[k];
    if (v !== undefined) out[k] = v;
  }
  out.content = redactContent(pdu.type, pdu.content, set);
  return out;
}

// The push rule evaluator (Client-Server API "Push Rules", "Conditions", "Actions"): which rule an
// event matches for one user, and what its actions mean. Pure: the caller supplies room facts.
import type { JsonObject, JsonValue } from '../core/json/types.js';
import { isJsonObject } from '../core/json/types.js';
import { LEGACY_MENTION_RULE_IDS } from './default-rules.js';
import { compileGlob, compileLiteral } from './glob.js';
import { lookupPath, parseDottedPath } from './property-path.js';
import type { PushAction, PushCondition, PushConditionValue, PushRule, PushRuleKind, Ruleset } from './types.js';
import { PUSH_RULE_KINDS } from './types.js';

/** What the evaluator needs to know about the room and the user, besides the event. */
export interface PushContext {
  /** The user whose rules are evaluated. */
  userId: string;
  /** The user's display name in this room (contains_display_name); absent or empty never matches. */
  displayName?: string;
  /** Joined members of the room (room_member_count). */
  roomMemberCount: number;
  /** The sender's power level in the room (sender_notification_permission). */
  senderPowerLevel: number;
  /** `content.notifications` of m.room.power_levels, e.g. `{ room: 50 }`; a missing key needs 50. */
  notificationPowerLevels: Record<string, number>;
}

export interface PushEvaluation {
  /** The actions include `notify`. */
  notify: boolean;
  /** The `highlight` tweak, true when set without a value; false when absent. */
  highlight: boolean;
  /** The `sound` tweak, when set to a string. */
  sound?: string;
  /** Every tweak the actions set, last one wins: passed through to the push gateway. */
  tweaks: Record<string, JsonValue>;
  /** The matching rule, if any. */
  ruleId?: string;
  kind?: PushRuleKind;
  /** The matching rule's actions without the historical `dont_notify` and `coalesce`. */
  actions: PushAction[];
}

/** The default power level required by sender_notification_permission (m.room.power_levels: notifications.room). */
const DEFAULT_NOTIFICATION_LEVEL = 50;

const MEMBER_COUNT_IS = /^(==|<=|>=|<|>)?([0-9]+)$/;

export type MemberCountOperator = '==' | '<' | '>' | '<=' | '>=';

/** Parses a room_member_count `is` ("2", "==2", "<10", ">=3"); null when malformed. */
export function parseMemberCountIs(is: string): { op: MemberCountOperator; count: number } | null {
  const m = MEMBER_COUNT_IS.exec(is);
  if (!m) return null;
  const count = Number(m[2]);
  if (!Number.isSafeInteger(count)) return null;
  return { op: (m[1] ?? '==') as MemberCountOperator, count };
}

export function memberCountMatches(is: string, memberCount: number): boolean {
  const parsed = parseMemberCountIs(is);
  if (!parsed) return false;
  const { op, count } = parsed;
  switch (op) {
    case '==':
      return memberCount === count;
    case '<':
      return memberCount < count;
    case '>':
      return memberCount > count;
    case '<=':
      return memberCount <= count;
    case '>=':
      return memberCount >= count;
  }
}

/** Strings, integers in [-(2**53)+1, (2**53)-1], booleans and null: the values the property conditions compare. */
export function isPushConditionValue(v: unknown): v is PushConditionValue {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isSafeInteger(v));
}

function isContentBody(path: readonly string[]): boolean {
  return path.length === 2 && path[0] === 'content' && path[1] === 'body';
}

function bodyOf(event: JsonObject): string | undefined {
  const content = event.content;
  if (!isJsonObject(content)) return undefined;
  const body = content.body;
  return typeof body === 'string' ? body : undefined;
}

/** Whether one condition of an override/underride rule holds. Unknown or malformed conditions never do. */
export function conditionMatches(condition: PushCondition, event: JsonObject, ctx: PushContext): boolean {
  switch (condition.kind) {
    case 'event_match': {
      const { key, pattern } = condition;
      if (typeof key !== 'string' || typeof pattern !== 'string') return false;
      const path = parseDottedPath(key);
      const value = lookupPath(event, path);
      // Absent or non-string values never match, not even `*`.
      if (typeof value !== 'string') return false;
      // content.body matches any word-bounded substring; every other key the whole value.
      return compileGlob(pattern, isContentBody(path) ? 'word' : 'whole').test(value);
    }
    case 'event_property_is': {
      const { key, value } = condition;
      if (typeof key !== 'string' || !isPushConditionValue(value)) return false;
      const actual = lookupPath(event, parseDottedPath(key));
      // Exact: no casts, so "true" is not true and 1 is not true.
      return isPushConditionValue(actual) && actual === value;
    }
    case 'event_property_contains': {
      const { key, value } = condition;
      if (typeof key !== 'string' || !isPushConditionValue(value)) return false;
      const actual = lookupPath(event, parseDottedPath(key));
      if (!Array.isArray(actual)) return false;
      // Compound elements and non-integers can never equal a valid value, so they drop out here.
      return actual.includes(value);
    }
    case 'contains_display_name': {
      // Deprecated since v1.17 but still evaluated. The display name is literal text, not a glob.
      const name = ctx.displayName;
      if (name === undefined || name === '') return false;
      const body = bodyOf(event);
      return body !== undefined && compileLiteral(name, 'word').test(body);
    }
    case 'room_member_count':
      return typeof condition.is === 'string' && memberCountMatches(condition.is, ctx.roomMemberCount);
    case 'sender_notification_permission': {
      const { key } = condition;
      if (typeof key !== 'string') return false;
      const levels = ctx.notificationPowerLevels;
      const configured = Object.hasOwn(levels, key) ? levels[key] : undefined;
      const required = typeof configured === 'number' ? configured : DEFAULT_NOTIFICATION_LEVEL;
      return ctx.senderPowerLevel >= required;
    }
    default:
      // "Unrecognised conditions MUST NOT match any events."
      return false;
  }
}

/** Whether an (enabled) rule of `kind` matches the event. */
export function ruleMatches(kind: PushRuleKind, rule: PushRule, event: JsonObject, ctx: PushContext): boolean {
  switch (kind) {
    case 'override':
    case 'underride': {
      // "A rule with no conditions always matches."
      const conditions = rule.conditions ?? [];
      for (const c of conditions) if (!conditionMatches(c, event, ctx)) return false;
      return true;
    }
    case 'content': {
      if (typeof rule.pattern !== 'string') return false;
      const body = bodyOf(event);
      return body !== undefined && compileGlob(rule.pattern, 'word').test(body);
    }
    case 'room':
      // The rule ID is the room ID.
      return typeof event.room_id === 'string' && rule.rule_id === event.room_id;
    case 'sender':
      // The rule ID is the sender's user ID.
      return typeof event.sender === 'string' && rule.rule_id === event.sender;
  }
}

/** The first enabled rule that matches, checking kinds in the spec's order and each list in order. */
export function findMatchingRule(event: JsonObject, ruleset: Ruleset, ctx: PushContext): { kind: PushRuleKind; rule: PushRule } | undefined {
  const content = event.content;
  // v1.7 to v1.16: the legacy body-based mention rules apply only to events without `m.mentions`.
  const hasMentions = isJsonObject(content) && Object.hasOwn(content, 'm.mentions');
  for (const kind of PUSH_RULE_KINDS) {
    for (const rule of ruleset[kind]) {
      if (!rule.enabled) continue;
      if (hasMentions && LEGACY_MENTION_RULE_IDS.has(rule.rule_id)) continue;
      if (ruleMatches(kind, rule, event, ctx)) return { kind, rule };
    }
  }
  return undefined;
}

/** Drops the historical `dont_notify` and `coalesce` ("Historical Actions": MUST be ignored). */
export function effectiveActions(actions: readonly PushAction[]): PushAction[] {
  return actions.filter((a) => a !== 'dont_notify' && a !== 'coalesce');
}

/** Reads notify, highlight, sound and the tweaks dictionary out of a rule's actions. */
export function interpretActions(actions: readonly PushAction[]): Omit<PushEvaluation, 'ruleId' | 'kind'> {
  const kept = effectiveActions(actions);
  let notify = false;
  const tweaks: Record<string, JsonValue> = {};
  for (const a of kept) {
    if (a === 'notify') notify = true;
    else if (isJsonObject(a) && typeof a.set_tweak === 'string') {
      // A highlight tweak without a value means true.
      const value = a.value === undefined ? (a.set_tweak === 'highlight' ? true : undefined) : a.value;
      // defineProperty: a tweak named "__proto__" must stay an ordinary key.
      if (value !== undefined) Object.defineProperty(tweaks, a.set_tweak, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  const out: Omit<PushEvaluation, 'ruleId' | 'kind'> = { notify, highlight: tweaks.highlight === true, tweaks, actions: kept };
  if (typeof tweaks.sound === 'string') out.sound = tweaks.sound;
  return out;
}

/**
 * Evaluates `ruleset` (as built by mergeRuleset) for `ctx.userId` against a client-format event
 * (`type`, `content`, `sender`, `state_key`, `room_id`). Events the user sent themselves never
 * notify ("Homeservers MUST NOT notify the Push Gateway for events that the user has sent
 * themselves"). Event objects are only read.
 */
export function evaluatePushRules(event: JsonObject, ruleset: Ruleset, ctx: PushContext): PushEvaluation {
  if (event.sender === ctx.userId) return { notify: false, highlight: false, tweaks: {}, actions: [] };
  const match = findMatchingRule(event, ruleset, ctx);
  if (!match) return { notify: false, highlight: false, tweaks: {}, actions: [] };
  return { ...interpretActions(match.rule.actions), ruleId: match.rule.rule_id, kind: match.kind };
}

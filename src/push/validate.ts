// Checks of user-supplied push rules for PUT /pushrules/global/{kind}/{ruleId} (pushrules.yaml) and
// their normalised stored form.
import type { JsonObject, JsonValue } from '../core/json/types.js';
import { isJsonObject } from '../core/json/types.js';
import { isPushConditionValue, parseMemberCountIs } from './evaluate.js';
import type { PushAction, PushCondition, PushRule, PushRuleKind } from './types.js';
import { isPushRuleKind } from './types.js';

export interface PushRuleValidationError {
  /** M_INVALID_PARAM for the path (kind, rule ID), M_BAD_JSON for the body. */
  errcode: 'M_INVALID_PARAM' | 'M_BAD_JSON';
  error: string;
}

function badParam(error: string): PushRuleValidationError {
  return { errcode: 'M_INVALID_PARAM', error };
}

function badJson(error: string): PushRuleValidationError {
  return { errcode: 'M_BAD_JSON', error };
}

/**
 * Path checks: the kind is one of the five, and the rule ID is non-empty, does not start with "."
 * (reserved for server-default rules: "the request MUST be rejected") and has no "/" or "\".
 */
export function validatePushRuleId(kind: string, ruleId: string): PushRuleValidationError | null {
  if (!isPushRuleKind(kind)) return badParam(`Unknown push rule kind: ${kind}`);
  if (ruleId === '') return badParam('The rule ID must not be empty');
  if (ruleId.startsWith('.')) return badParam('Rule IDs starting with "." are reserved for server-default rules');
  if (ruleId.includes('/') || ruleId.includes('\\')) return badParam('Rule IDs may not contain "/" or "\\"');
  return null;
}

/** Checks an `actions` array: `notify`, the historical `dont_notify`/`coalesce`, or `{set_tweak, value?}`. */
export function validatePushActions(actions: unknown): PushRuleValidationError | null {
  if (!Array.isArray(actions)) return badJson('"actions" must be an array');
  for (const a of actions as unknown[]) {
    if (typeof a === 'string') {
      if (a !== 'notify' && a !== 'dont_notify' && a !== 'coalesce') return badJson(`Unrecognised action: ${a}`);
      continue;
    }
    if (!isJsonObject(a) || typeof a.set_tweak !== 'string') return badJson('Each action must be a string or an object with a string "set_tweak"');
    // Other tweaks pass through untouched; the two the spec defines have typed values.
    if (a.set_tweak === 'highlight' && a.value !== undefined && typeof a.value !== 'boolean') return badJson('The highlight tweak value must be a boolean');
    if (a.set_tweak === 'sound' && a.value !== undefined && typeof a.value !== 'string') return badJson('The sound tweak value must be a string');
  }
  return null;
}

/** Checks one condition. Unknown kinds are accepted (they are stored and never match); known ones need their parameters. */
export function validatePushCondition(c: unknown): PushRuleValidationError | null {
  if (!isJsonObject(c) || typeof c.kind !== 'string') return badJson('Each condition must be an object with a string "kind"');
  switch (c.kind) {
    case 'event_match':
      if (typeof c.key !== 'string' || typeof c.pattern !== 'string') return badJson('event_match needs string "key" and "pattern"');
      return null;
    case 'event_property_is':
    case 'event_property_contains':
      if (typeof c.key !== 'string') return badJson(`${c.kind} needs a string "key"`);
      if (!Object.hasOwn(c, 'value') || !isPushConditionValue(c.value)) {
        return badJson(`${c.kind} needs a "value" that is a string, an integer in the canonical JSON range, a boolean or null`);
      }
      return null;
    case 'room_member_count':
      if (typeof c.is !== 'string' || parseMemberCountIs(c.is) === null) return badJson('room_member_count needs "is": an integer optionally prefixed by ==, <, >, <= or >=');
      return null;
    case 'sender_notification_permission':
      if (typeof c.key !== 'string') return badJson('sender_notification_permission needs a string "key"');
      return null;
    default:
      return null;
  }
}

/**
 * Validates a PUT /pushrules/global/{kind}/{ruleId} request: the path, then the body. `actions` is
 * required; content rules need a string `pattern`; override and underride rules may carry
 * `conditions`. Keys that do not apply to the kind are ignored. Returns null when valid.
 */
export function validatePushRule(kind: string, ruleId: string, body: unknown): PushRuleValidationError | null {
  const pathError = validatePushRuleId(kind, ruleId);
  if (pathError) return pathError;
  if (!isJsonObject(body)) return badJson('The body must be a JSON object');
  if (!Object.hasOwn(body, 'actions')) return badJson('Missing "actions"');
  const actionsError = validatePushActions(body.actions);
  if (actionsError) return actionsError;
  if (kind === 'content') {
    if (typeof body.pattern !== 'string') return badJson('Content rules need a string "pattern"');
  } else if ((kind === 'override' || kind === 'underride') && body.conditions !== undefined) {
    if (!Array.isArray(body.conditions)) return badJson('"conditions" must be an array');
    for (const c of body.conditions) {
      const err = validatePushCondition(c);
      if (err) return err;
    }
  }
  return null;
}

function copyCondition(c: JsonObject): PushCondition {
  // Known fields are copied; an unknown kind keeps all its fields so it round-trips unchanged.
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(c)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out as unknown as PushCondition;
}

/**
 * The rule to store for a body that validatePushRule accepted: enabled (new rules "MUST be enabled
 * by default"), not default, historical actions dropped, only the keys its kind uses.
 */
export function userPushRuleFromBody(kind: PushRuleKind, ruleId: string, body: JsonObject): PushRule {
  const actions = (body.actions as PushAction[]).filter((a) => a !== 'dont_notify' && a !== 'coalesce');
  const rule: PushRule = { rule_id: ruleId, default: false, enabled: true, actions };
  if (kind === 'content') rule.pattern = body.pattern as string;
  if (kind === 'override' || kind === 'underride') {
    rule.conditions = Array.isArray(body.conditions) ? body.conditions.map((c) => copyCondition(c as JsonObject)) : [];
  }
  return rule;
}

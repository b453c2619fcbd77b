// Shapes of push rules, conditions and actions (Client-Server API "Push Notifications", push_rule.yaml).
import type { JsonValue } from '../core/json/types.js';

/** The five kinds of push rule, in the order the spec checks them. */
export type PushRuleKind = 'override' | 'content' | 'room' | 'sender' | 'underride';

export const PUSH_RULE_KINDS: readonly PushRuleKind[] = ['override', 'content', 'room', 'sender', 'underride'];

export function isPushRuleKind(v: unknown): v is PushRuleKind {
  return v === 'override' || v === 'content' || v === 'room' || v === 'sender' || v === 'underride';
}

/** `{ "set_tweak": "sound", "value": "default" }`; `highlight` without a value means true. */
export interface SetTweakAction {
  set_tweak: string;
  value?: JsonValue;
}

/**
 * A string action (`notify`; the historical `dont_notify` and `coalesce`, which are ignored) or a
 * tweak. Kept as `string` rather than a closed union so stored rules from older data still load.
 */
export type PushAction = string | SetTweakAction;

/** Scalar values `event_property_is` / `event_property_contains` compare against. */
export type PushConditionValue = string | number | boolean | null;

/**
 * One condition of an override/underride rule (push_condition.yaml). Only `kind` is always
 * present; the other fields depend on it. Unknown kinds are kept and never match.
 */
export interface PushCondition {
  kind: string;
  /** event_match, event_property_is/contains: dotted path; sender_notification_permission: power-level key. */
  key?: string;
  /** event_match: glob pattern. */
  pattern?: string;
  /** room_member_count: "2", "==2", "<10", ">=3" ... */
  is?: string;
  /** event_property_is / event_property_contains. */
  value?: PushConditionValue;
}

export interface PushRule {
  rule_id: string;
  /** True for server-default rules (whose IDs start with "."). */
  default: boolean;
  enabled: boolean;
  /** override and underride rules only. */
  conditions?: PushCondition[];
  /** content rules only. */
  pattern?: string;
  actions: PushAction[];
}

/** Each list is ordered most important first. */
export interface Ruleset {
  override: PushRule[];
  content: PushRule[];
  room: PushRule[];
  sender: PushRule[];
  underride: PushRule[];
}

// Evaluates one event's push rules for every local member of a room at once (spec "Server
// behaviour": push rules are processed for each local user in the room, excluding the sender).
// Pure: the caller supplies the room facts and the members.
//
// Most members use the server-default rules, which differ between users only in the few rules
// that name the user (invite_for_me, is_user_mention, contains_display_name, contains_user_name).
// So the user-independent rules are evaluated once per event; the user-specific ones are checked
// per member only when their user-independent conditions hold (e.g. the event is an invite, or has
// a body and no m.mentions), and only if they rank above the first user-independent match. Members
// with rules of their own are evaluated in full. The result is the outcome common to default-rule
// members plus the members whose outcome differs, which is also how it is stored.
import type { JsonObject, JsonValue } from '../core/json/types.js';
import { isJsonObject } from '../core/json/types.js';
import { defaultRuleset, LEGACY_MENTION_RULE_IDS, type DefaultRulesetOptions } from './default-rules.js';
import { conditionMatches, findMatchingRule, interpretActions, ruleMatches, type PushContext } from './evaluate.js';
import type { PushAction, PushCondition, PushRule, PushRuleKind, Ruleset } from './types.js';
import { PUSH_RULE_KINDS } from './types.js';
import { lookupDotted } from './property-path.js';

/** What the evaluation needs of a member. */
export interface BulkMember {
  readonly userId: string;
  /** Display name in the room (contains_display_name). */
  readonly displayName?: string | undefined;
}

/** Facts about the room, the same for every member. */
export interface RoomPushFacts {
  /** Joined members (room_member_count). */
  readonly memberCount: number;
  /** The sender's power level (sender_notification_permission). */
  readonly senderPowerLevel: number;
  /** `notifications` of m.room.power_levels. */
  readonly notificationPowerLevels: Record<string, number>;
}

/** What an event means for one member. Outcomes that do not notify are all NO_NOTIFICATION. */
export interface PushOutcome {
  readonly notify: boolean;
  /** Only ever true together with notify (a highlight that does not notify is not counted). */
  readonly highlight: boolean;
  /** The matched rule's actions without the historical ones (for /notifications and pushers). */
  readonly actions: readonly PushAction[];
  /** The tweaks those actions set (passed to the push gateway). */
  readonly tweaks: Readonly<Record<string, JsonValue>>;
  /** JSON of `actions`: what is stored, and the identity two outcomes are compared by. */
  readonly key: string;
}

export const NO_NOTIFICATION: PushOutcome = Object.freeze({ notify: false, highlight: false, actions: [], tweaks: {}, key: '' });

export interface BulkResult {
  /** The outcome of every member with server-default rules that no user-specific rule singles out. */
  readonly common: PushOutcome;
  /** Members (never the sender) whose outcome differs from `common`. */
  readonly exceptions: Map<string, PushOutcome>;
}

/** Returns a member's own merged ruleset, or undefined when they use the server defaults. */
export type RulesetLookup = (userId: string) => Ruleset | undefined;

// A user ID that appears nowhere else: rules of the template ruleset that mention it name the user.
const MARK = '\u0000member\u0000';
const TEMPLATE_USER = `@${MARK}:${MARK}`;

interface Slot {
  readonly kind: PushRuleKind;
  /** Position in ruleset[kind]: the same for every user's default ruleset. */
  readonly index: number;
  readonly rule: PushRule;
  readonly legacy: boolean;
  readonly userSpecific: boolean;
}

function mentionsUser(c: PushCondition): boolean {
  if (c.kind === 'contains_display_name') return true;
  return (typeof c.pattern === 'string' && c.pattern.includes(MARK)) || (typeof c.value === 'string' && c.value.includes(MARK));
}

function bodyOf(event: JsonObject): string | undefined {
  const content = event.content;
  return isJsonObject(content) && typeof content.body === 'string' ? content.body : undefined;
}

/** A necessary condition for a user-naming condition to hold for some user. */
function couldMatchSomeone(c: PushCondition, event: JsonObject): boolean {
  switch (c.kind) {
    case 'contains_display_name':
      return bodyOf(event) !== undefined;
    case 'event_match':
      return typeof c.key === 'string' && typeof lookupDotted(event, c.key) === 'string';
    case 'event_property_contains': {
      const v = typeof c.key === 'string' ? lookupDotted(event, c.key) : undefined;
      return Array.isArray(v) && v.length > 0;
    }
    case 'event_property_is':
      return typeof c.key === 'string' && lookupDotted(event, c.key) !== undefined;
    default:
      return true;
  }
}

const outcomes = new WeakMap<PushRule, PushOutcome>();

/** The outcome of a rule's actions (cached per rule object, which are shared and never mutated). */
export function outcomeOfRule(rule: PushRule): PushOutcome {
  let o = outcomes.get(rule);
  if (o === undefined) {
    const i = interpretActions(rule.actions);
    o = i.notify ? { notify: true, highlight: i.highlight, actions: i.actions, tweaks: i.tweaks, key: JSON.stringify(i.actions) } : NO_NOTIFICATION;
    outcomes.set(rule, o);
  }
  return o;
}

const USER_RULES_CACHE_LIMIT = 50_000;

export class BulkPushEvaluator {
  private readonly slots: Slot[] = [];
  /** Per user: their own copy of each user-specific default rule, indexed like `slots`. */
  private readonly userRules = new Map<string, (PushRule | undefined)[]>();

  constructor(private readonly options: DefaultRulesetOptions = {}) {
    const template = defaultRuleset(TEMPLATE_USER, options);
    for (const kind of PUSH_RULE_KINDS) {
      template[kind].forEach((rule, index) => {
        const conditions = rule.conditions ?? [];
        const userSpecific = conditions.some(mentionsUser) || (typeof rule.pattern === 'string' && rule.pattern.includes(MARK));
        this.slots.push({
          kind,
          index,
          rule,
          legacy: LEGACY_MENTION_RULE_IDS.has(rule.rule_id),
          userSpecific,
        });
      });
    }
  }

  /** The server-default ruleset of a user (fresh objects). */
  defaultRulesetFor(userId: string): Ruleset {
    return defaultRuleset(userId, this.options);
  }

  private userRulesOf(userId: string): (PushRule | undefined)[] {
    let rules = this.userRules.get(userId);
    if (rules === undefined) {
      const own = defaultRuleset(userId, this.options);
      rules = this.slots.map((s) => (s.userSpecific ? own[s.kind][s.index] : undefined));
      if (this.userRules.size >= USER_RULES_CACHE_LIMIT) {
        const oldest = this.userRules.keys().next().value;
        if (oldest !== undefined) this.userRules.delete(oldest);
      }
      this.userRules.set(userId, rules);
    }
    return rules;
  }

  /**
   * Whether a user-specific rule could match anyone: its conditions that do not name the user hold,
   * and those that do have something to compare (a body, a string, an array). Rules out most events
   * once, instead of once per member.
   */
  private couldMatch(slot: Slot, event: JsonObject, ctx: PushContext): boolean {
    if (slot.kind === 'content') return typeof bodyOf(event) === 'string';
    for (const c of slot.rule.conditions ?? []) {
      if (mentionsUser(c) ? !couldMatchSomeone(c, event) : !conditionMatches(c, event, ctx)) return false;
    }
    return true;
  }

  /**
   * Evaluates `event` (the PDU or client event: type, content, sender, state_key, room_id are read)
   * for `members`. The sender is skipped ("MUST NOT notify ... events that the user has sent
   * themselves"). `rulesetOf` gives the merged ruleset of members who changed their rules.
   */
  evaluate(event: JsonObject, members: Iterable<BulkMember>, facts: RoomPushFacts, rulesetOf: RulesetLookup): BulkResult {
    const content = event.content;
    const hasMentions = isJsonObject(content) && Object.hasOwn(content, 'm.mentions');
    const shared: PushContext = {
      userId: TEMPLATE_USER,
      roomMemberCount: facts.memberCount,
      senderPowerLevel: facts.senderPowerLevel,
      notificationPowerLevels: facts.notificationPowerLevels,
    };

    // The first user-independent match, and the user-specific rules above it that could match.
    let common = NO_NOTIFICATION;
    const candidates: number[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[i]!;
      if (!slot.rule.enabled || (hasMentions && slot.legacy)) continue;
      if (slot.userSpecific) {
        if (this.couldMatch(slot, event, shared)) candidates.push(i);
        continue;
      }
      if (ruleMatches(slot.kind, slot.rule, event, shared)) {
        common = outcomeOfRule(slot.rule);
        break;
      }
    }

    const sender = event.sender;
    const exceptions = new Map<string, PushOutcome>();
    for (const m of members) {
      if (m.userId === sender) continue;
      const own = rulesetOf(m.userId);
      if (own === undefined && candidates.length === 0) continue;
      const ctx: PushContext = { ...shared, userId: m.userId, displayName: m.displayName };
      let outcome = common;
      if (own !== undefined) {
        const match = findMatchingRule(event, own, ctx);
        outcome = match ? outcomeOfRule(match.rule) : NO_NOTIFICATION;
      } else {
        const rules = this.userRulesOf(m.userId);
        for (const i of candidates) {
          const rule = rules[i]!;
          if (ruleMatches(this.slots[i]!.kind, rule, event, ctx)) {
            outcome = outcomeOfRule(rule);
            break;
          }
        }
      }
      if (outcome.key !== common.key) exceptions.set(m.userId, outcome);
    }
    return { common, exceptions };
  }
}

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
import { defaultRuleset, LEGACY_MENTION_RULE_IDS, localpartOf, type DefaultRulesetOptions } from './default-rules.js';
import {
  conditionMatches,
  findMatchingRule,
  interpretActions,
  isPushConditionValue,
  memberCountMatches,
  parseMemberCountIs,
  ruleMatches,
  type PushContext,
} from './evaluate.js';
import { compileGlob } from './glob.js';
import type { PushAction, PushCondition, PushRule, PushRuleKind, Ruleset } from './types.js';
import { PUSH_RULE_KINDS } from './types.js';
import { lookupDotted, lookupPath, parseDottedPath } from './property-path.js';

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
  /** For rules that do not name the user: the rule's test with its globs and paths compiled once. */
  readonly matches: (event: JsonObject, ctx: PushContext) => boolean;
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

const ALWAYS = (): boolean => true;

interface MemberFilter {
  /** False when the rule cannot match this member. */
  readonly test: (m: BulkMember) => boolean;
  /** When known: the only users the rule can match. */
  readonly only?: ReadonlySet<string>;
}

type CompiledTest = (event: JsonObject, ctx: PushContext) => boolean;

/**
 * One condition with its path parsed, glob compiled and member count parsed ahead, for the
 * server-default rules checked on every event. Same semantics as conditionMatches (evaluate.ts),
 * which the other kinds still go through; the bulk tests compare the two.
 */
function compileCondition(c: PushCondition): CompiledTest {
  switch (c.kind) {
    case 'event_match': {
      const { key, pattern } = c;
      if (typeof key !== 'string' || typeof pattern !== 'string') return () => false;
      const path = parseDottedPath(key);
      const isBody = path.length === 2 && path[0] === 'content' && path[1] === 'body';
      const glob = compileGlob(pattern, isBody ? 'word' : 'whole');
      return (event) => {
        const value = lookupPath(event, path);
        return typeof value === 'string' && glob.test(value);
      };
    }
    case 'event_property_is': {
      const { key, value } = c;
      if (typeof key !== 'string' || !isPushConditionValue(value)) return () => false;
      const path = parseDottedPath(key);
      return (event) => {
        const actual = lookupPath(event, path);
        return isPushConditionValue(actual) && actual === value;
      };
    }
    case 'room_member_count': {
      const parsed = typeof c.is === 'string' ? parseMemberCountIs(c.is) : null;
      if (!parsed) return () => false;
      const is = c.is!;
      return (_event, ctx) => memberCountMatches(is, ctx.roomMemberCount);
    }
    default:
      return (event, ctx) => conditionMatches(c, event, ctx);
  }
}

function compileRule(kind: PushRuleKind, rule: PushRule): CompiledTest {
  if (kind !== 'override' && kind !== 'underride') return (event, ctx) => ruleMatches(kind, rule, event, ctx);
  const tests = (rule.conditions ?? []).map(compileCondition);
  return (event, ctx) => {
    for (const t of tests) if (!t(event, ctx)) return false;
    return true;
  };
}

interface MemberKeys {
  /** The display name the keys were made from. */
  readonly name: string | undefined;
  readonly localpart: string | null;
  readonly displayName: string | null;
}

/** Printable ASCII without the glob wildcards: its case-insensitive matches are plain substrings. */
function isPlainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x2a || c === 0x3f) return false;
  }
  return true;
}

/**
 * The body lowercased for substring pre-checks. Under Unicode simple case folding (the evaluator's
 * `iu` RegExps) only U+212A KELVIN SIGN and U+017F LONG S fold to ASCII letters besides ASCII
 * itself; toLowerCase maps the first to "k", the second is mapped to "s" here. So an ASCII name
 * that matches the body case-insensitively is always a substring of this.
 */
function foldedBody(event: JsonObject): string {
  const body = bodyOf(event);
  return body === undefined ? '' : body.toLowerCase().replaceAll('\u017f', 's');
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
  /** Per member object (room state caches keep them): the pre-check keys. */
  private readonly memberKeys = new WeakMap<BulkMember, MemberKeys>();

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
          matches: compileRule(kind, rule),
        });
      });
    }
  }

  /** Lowercased localpart and display name for the body pre-checks (null: not plain ASCII, check in full). */
  private keysOf(m: BulkMember): MemberKeys {
    let k = this.memberKeys.get(m);
    if (k === undefined || k.name !== m.displayName) {
      const localpart = localpartOf(m.userId);
      const name = m.displayName;
      k = {
        name,
        localpart: isPlainAscii(localpart) ? localpart.toLowerCase() : null,
        displayName: name !== undefined && isPlainAscii(name) ? name.toLowerCase() : null,
      };
      this.memberKeys.set(m, k);
    }
    return k;
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
   * A necessary condition, per member, for a user-specific rule to match them: the user ID is among
   * the mentioned ones, or the (ASCII) name or localpart occurs in the lowercased body. Saves the
   * full condition check (a RegExp for the body rules) for the members it cannot match.
   */
  private memberFilter(slot: Slot, event: JsonObject): MemberFilter {
    if (slot.kind === 'content') {
      if (slot.rule.pattern !== MARK) return { test: ALWAYS };
      const body = foldedBody(event);
      return {
        test: (m) => {
          const key = this.keysOf(m).localpart;
          return key === null || body.includes(key);
        },
      };
    }
    for (const c of slot.rule.conditions ?? []) {
      if (c.kind === 'event_property_contains' && c.value === TEMPLATE_USER && typeof c.key === 'string') {
        // Only the listed users can match: exact, since the condition is strict equality.
        const values = lookupDotted(event, c.key);
        const only = new Set(Array.isArray(values) ? values.filter((v): v is string => typeof v === 'string') : []);
        return { test: (m) => only.has(m.userId), only };
      }
      if (c.kind === 'contains_display_name') {
        const body = foldedBody(event);
        return {
          test: (m) => {
            if (m.displayName === undefined || m.displayName === '') return false;
            const key = this.keysOf(m).displayName;
            return key === null || body.includes(key);
          },
        };
      }
    }
    return { test: ALWAYS };
  }

  /**
   * The members whose outcome may differ from the common one: all of them, or, with the list of
   * custom-rule members, only those plus the members some candidate rule can single out (none for
   * most messages; the mentioned users for a mention).
   */
  private membersToVisit(members: ReadonlyMap<string, BulkMember>, filters: readonly MemberFilter[], customMembers: Iterable<BulkMember> | undefined): Iterable<BulkMember> {
    if (customMembers === undefined || filters.some((f) => f.only === undefined)) return members.values();
    if (filters.length === 0) return customMembers;
    const out = new Map<string, BulkMember>();
    for (const m of customMembers) out.set(m.userId, m);
    for (const f of filters) {
      for (const u of f.only!) {
        const m = members.get(u);
        if (m) out.set(u, m);
      }
    }
    return out.values();
  }

  /**
   * Evaluates `event` (the PDU or client event: type, content, sender, state_key, room_id are read)
   * for `members` (by user ID). The sender is skipped ("MUST NOT notify ... events that the user has sent
   * themselves"). `rulesetOf` gives the merged ruleset of members who changed their rules.
   * `customMembers`, when given, lists (at least) the members `rulesetOf` knows: then the others are
   * only visited when a user-specific rule could match, which most messages rule out.
   */
  evaluate(
    event: JsonObject,
    members: ReadonlyMap<string, BulkMember>,
    facts: RoomPushFacts,
    rulesetOf: RulesetLookup,
    customMembers?: Iterable<BulkMember>,
  ): BulkResult {
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
      if (slot.matches(event, shared)) {
        common = outcomeOfRule(slot.rule);
        break;
      }
    }

    // Per candidate, a cheap per-member test that must hold for the rule to match that member.
    const filters = candidates.map((i) => this.memberFilter(this.slots[i]!, event));
    const sender = event.sender;
    const exceptions = new Map<string, PushOutcome>();
    for (const m of this.membersToVisit(members, filters, customMembers)) {
      if (m.userId === sender) continue;
      const own = rulesetOf(m.userId);
      let outcome = common;
      if (own !== undefined) {
        const match = findMatchingRule(event, own, { ...shared, userId: m.userId, displayName: m.displayName });
        outcome = match ? outcomeOfRule(match.rule) : NO_NOTIFICATION;
      } else {
        let ctx: PushContext | undefined;
        for (let k = 0; k < candidates.length; k++) {
          if (!filters[k]!.test(m)) continue;
          ctx ??= { ...shared, userId: m.userId, displayName: m.displayName };
          const i = candidates[k]!;
          const rule = this.userRulesOf(m.userId)[i]!;
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

// The server-default push rules (Client-Server API "Predefined Rules") and merging them with a user's own rules.
import type { PushAction, PushCondition, PushRule, PushRuleKind, Ruleset } from './types.js';
import { PUSH_RULE_KINDS } from './types.js';

export interface DefaultRulesetOptions {
  /**
   * Include the legacy body-based mention rules `.m.rule.contains_display_name`,
   * `.m.rule.roomnotif` (override) and `.m.rule.contains_user_name` (content), at the places the
   * spec listed them until v1.16. v1.17 removed them from the predefined rules (MSC4210), but a
   * server may still define extra server-default rules, and clients or bridges that do not send
   * `m.mentions` rely on them. The evaluator skips them for events that carry `m.mentions`, as
   * v1.7 to v1.16 required. Default: true.
   */
  legacyMentionRules?: boolean;
}

/** Rule IDs of the legacy mention rules; the evaluator skips them when content has `m.mentions`. */
export const LEGACY_MENTION_RULE_IDS: ReadonlySet<string> = new Set([
  '.m.rule.contains_display_name',
  '.m.rule.roomnotif',
  '.m.rule.contains_user_name',
]);

/** The rule that outranks even user-defined rules ("Predefined Rules"). */
export const MASTER_RULE_ID = '.m.rule.master';

// Factories, so no two rules (or rulesets) share a mutable action object.
const sound = (): PushAction => ({ set_tweak: 'sound', value: 'default' });
const highlight = (): PushAction => ({ set_tweak: 'highlight' });

function rule(rule_id: string, conditions: PushRule['conditions'], actions: PushAction[], enabled = true): PushRule {
  return { rule_id, default: true, enabled, conditions, actions };
}

function typeIs(type: string): PushCondition {
  return { kind: 'event_match', key: 'type', pattern: type };
}

/** `@alice:example.org` -> `alice`. A user ID's localpart never contains ':'. */
export function localpartOf(userId: string): string {
  const colon = userId.indexOf(':');
  return userId.slice(1, colon < 0 ? undefined : colon);
}

/**
 * The server-default ruleset for `userId`, each list in the spec's order. Fresh objects on every
 * call, so callers may change them. `.m.rule.room.server_acl` is the spec's ID for the ACL rule.
 */
export function defaultRuleset(userId: string, options: DefaultRulesetOptions = {}): Ruleset {
  const legacy = options.legacyMentionRules ?? true;

  const override: PushRule[] = [
    rule(MASTER_RULE_ID, [], [], false),
    rule('.m.rule.suppress_notices', [{ kind: 'event_match', key: 'content.msgtype', pattern: 'm.notice' }], []),
    rule(
      '.m.rule.invite_for_me',
      [typeIs('m.room.member'), { kind: 'event_match', key: 'content.membership', pattern: 'invite' }, { kind: 'event_match', key: 'state_key', pattern: userId }],
      ['notify', sound()],
    ),
    rule('.m.rule.member_event', [typeIs('m.room.member')], []),
    rule(
      '.m.rule.is_user_mention',
      [{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: userId }],
      ['notify', sound(), highlight()],
    ),
  ];
  if (legacy) override.push(rule('.m.rule.contains_display_name', [{ kind: 'contains_display_name' }], ['notify', sound(), highlight()]));
  override.push(
    rule(
      '.m.rule.is_room_mention',
      [{ kind: 'event_property_is', key: 'content.m\\.mentions.room', value: true }, { kind: 'sender_notification_permission', key: 'room' }],
      ['notify', highlight()],
    ),
  );
  if (legacy) {
    override.push(
      rule(
        '.m.rule.roomnotif',
        [{ kind: 'event_match', key: 'content.body', pattern: '@room' }, { kind: 'sender_notification_permission', key: 'room' }],
        ['notify', highlight()],
      ),
    );
  }
  override.push(
    // No implicit state_key condition exists, so the state rules ask for state_key "" themselves.
    rule('.m.rule.tombstone', [typeIs('m.room.tombstone'), { kind: 'event_match', key: 'state_key', pattern: '' }], ['notify', highlight()]),
    rule('.m.rule.reaction', [typeIs('m.reaction')], []),
    rule('.m.rule.room.server_acl', [typeIs('m.room.server_acl'), { kind: 'event_match', key: 'state_key', pattern: '' }], []),
    rule('.m.rule.suppress_edits', [{ kind: 'event_property_is', key: 'content.m\\.relates_to.rel_type', value: 'm.replace' }], []),
  );

  const content: PushRule[] = legacy
    ? [{ rule_id: '.m.rule.contains_user_name', default: true, enabled: true, pattern: localpartOf(userId), actions: ['notify', sound(), highlight()] }]
    : [];

  const underride: PushRule[] = [
    rule('.m.rule.call', [typeIs('m.call.invite')], ['notify', { set_tweak: 'sound', value: 'ring' }]),
    rule('.m.rule.encrypted_room_one_to_one', [{ kind: 'room_member_count', is: '2' }, typeIs('m.room.encrypted')], ['notify', sound()]),
    rule('.m.rule.room_one_to_one', [{ kind: 'room_member_count', is: '2' }, typeIs('m.room.message')], ['notify', sound()]),
    rule('.m.rule.message', [typeIs('m.room.message')], ['notify']),
    rule('.m.rule.encrypted', [typeIs('m.room.encrypted')], ['notify']),
  ];

  return { override, content, room: [], sender: [], underride };
}

/** A user's change to one rule's `enabled` flag or `actions` (PUT .../enabled, PUT .../actions). */
export interface RuleOverride {
  enabled?: boolean;
  actions?: PushAction[];
}

/** Overrides by kind, then rule ID. They apply to server-default and user rules alike. */
export type RuleOverrides = Partial<Record<PushRuleKind, Readonly<Record<string, RuleOverride>>>>;

function applyOverride(r: PushRule, kind: PushRuleKind, overrides: RuleOverrides | undefined, isDefault: boolean): PushRule {
  const forKind = overrides?.[kind];
  const o = forKind !== undefined && Object.hasOwn(forKind, r.rule_id) ? forKind[r.rule_id] : undefined;
  const out: PushRule = { ...r, default: isDefault };
  if (o?.enabled !== undefined) out.enabled = o.enabled;
  if (o?.actions !== undefined) out.actions = o.actions;
  return out;
}

/**
 * The ruleset a user's events are evaluated against and GET /pushrules returns.
 *
 * "Predefined Rules": server-default rules rank below user-defined rules of the same kind, except
 * `.m.rule.master`, which ranks above everything. So each kind lists the user's rules (in their
 * stored order, most important first) before the server-default ones, and `override` starts with
 * the master rule. `userRules` must already be valid (see validatePushRule); they are marked
 * `default: false`.
 */
export function mergeRuleset(defaults: Ruleset, userRules: Partial<Ruleset>, overrides?: RuleOverrides): Ruleset {
  const out: Ruleset = { override: [], content: [], room: [], sender: [], underride: [] };
  for (const kind of PUSH_RULE_KINDS) {
    const list = out[kind];
    const serverRules = defaults[kind];
    if (kind === 'override') {
      for (const r of serverRules) if (r.rule_id === MASTER_RULE_ID) list.push(applyOverride(r, kind, overrides, true));
    }
    for (const r of userRules[kind] ?? []) list.push(applyOverride(r, kind, overrides, false));
    for (const r of serverRules) {
      if (kind === 'override' && r.rule_id === MASTER_RULE_ID) continue;
      list.push(applyOverride(r, kind, overrides, true));
    }
  }
  return out;
}

// The predefined push rules: their order and definitions, and what each does to real events.
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { defaultRuleset, localpartOf, mergeRuleset } from '../../src/push/default-rules.js';
import { evaluatePushRules, type PushContext } from '../../src/push/evaluate.js';
import type { Ruleset } from '../../src/push/types.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const ROOM = '!room:example.org';

function ctx(over: Partial<PushContext> = {}): PushContext {
  return {
    userId: ALICE,
    displayName: 'Alice Liddell',
    roomMemberCount: 5,
    senderPowerLevel: 0,
    notificationPowerLevels: {},
    ...over,
  };
}

function message(content: JsonObject, sender = BOB): JsonObject {
  return { type: 'm.room.message', room_id: ROOM, sender, event_id: '$e', content };
}

function state(type: string, stateKey: string, content: JsonObject, sender = BOB): JsonObject {
  return { type, state_key: stateKey, room_id: ROOM, sender, event_id: '$s', content };
}

const ids = (rules: { rule_id: string }[]) => rules.map((r) => r.rule_id);

describe('defaultRuleset', () => {
  it('lists the predefined rules in the spec order, with the legacy mention rules where v1.16 had them', () => {
    const rs = defaultRuleset(ALICE);
    expect(ids(rs.override)).toEqual([
      '.m.rule.master',
      '.m.rule.suppress_notices',
      '.m.rule.invite_for_me',
      '.m.rule.member_event',
      '.m.rule.is_user_mention',
      '.m.rule.contains_display_name',
      '.m.rule.is_room_mention',
      '.m.rule.roomnotif',
      '.m.rule.tombstone',
      '.m.rule.reaction',
      '.m.rule.room.server_acl',
      '.m.rule.suppress_edits',
    ]);
    expect(ids(rs.content)).toEqual(['.m.rule.contains_user_name']);
    expect(rs.room).toEqual([]);
    expect(rs.sender).toEqual([]);
    expect(ids(rs.underride)).toEqual([
      '.m.rule.call',
      '.m.rule.encrypted_room_one_to_one',
      '.m.rule.room_one_to_one',
      '.m.rule.message',
      '.m.rule.encrypted',
    ]);
  });

  it('drops the legacy rules on request (v1.17+ predefined set)', () => {
    const rs = defaultRuleset(ALICE, { legacyMentionRules: false });
    expect(ids(rs.override)).not.toContain('.m.rule.contains_display_name');
    expect(ids(rs.override)).not.toContain('.m.rule.roomnotif');
    expect(rs.content).toEqual([]);
    expect(ids(rs.override)).toHaveLength(10);
  });

  it('marks every rule default, starts with master disabled and all others enabled', () => {
    const rs = defaultRuleset(ALICE);
    const all = [...rs.override, ...rs.content, ...rs.underride];
    expect(all.every((r) => r.default && r.rule_id.startsWith('.'))).toBe(true);
    expect(all.filter((r) => !r.enabled).map((r) => r.rule_id)).toEqual(['.m.rule.master']);
  });

  it('fills in the user ID and localpart and matches the spec definitions', () => {
    const rs = defaultRuleset(ALICE);
    const byId = (id: string) => [...rs.override, ...rs.content, ...rs.underride].find((r) => r.rule_id === id);
    expect(byId('.m.rule.master')).toEqual({ rule_id: '.m.rule.master', default: true, enabled: false, conditions: [], actions: [] });
    expect(byId('.m.rule.invite_for_me')?.conditions).toEqual([
      { kind: 'event_match', key: 'type', pattern: 'm.room.member' },
      { kind: 'event_match', key: 'content.membership', pattern: 'invite' },
      { kind: 'event_match', key: 'state_key', pattern: ALICE },
    ]);
    expect(byId('.m.rule.invite_for_me')?.actions).toEqual(['notify', { set_tweak: 'sound', value: 'default' }]);
    expect(byId('.m.rule.is_user_mention')).toEqual({
      rule_id: '.m.rule.is_user_mention',
      default: true,
      enabled: true,
      conditions: [{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: ALICE }],
      actions: ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }],
    });
    expect(byId('.m.rule.is_room_mention')?.conditions).toEqual([
      { kind: 'event_property_is', key: 'content.m\\.mentions.room', value: true },
      { kind: 'sender_notification_permission', key: 'room' },
    ]);
    expect(byId('.m.rule.tombstone')?.conditions).toEqual([
      { kind: 'event_match', key: 'type', pattern: 'm.room.tombstone' },
      { kind: 'event_match', key: 'state_key', pattern: '' },
    ]);
    expect(byId('.m.rule.suppress_edits')?.conditions).toEqual([
      { kind: 'event_property_is', key: 'content.m\\.relates_to.rel_type', value: 'm.replace' },
    ]);
    expect(byId('.m.rule.contains_user_name')).toEqual({
      rule_id: '.m.rule.contains_user_name',
      default: true,
      enabled: true,
      pattern: 'alice',
      actions: ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }],
    });
    expect(byId('.m.rule.call')?.actions).toEqual(['notify', { set_tweak: 'sound', value: 'ring' }]);
    expect(byId('.m.rule.encrypted_room_one_to_one')?.conditions).toEqual([
      { kind: 'room_member_count', is: '2' },
      { kind: 'event_match', key: 'type', pattern: 'm.room.encrypted' },
    ]);
    expect(byId('.m.rule.message')?.actions).toEqual(['notify']);
    expect(byId('.m.rule.encrypted')?.actions).toEqual(['notify']);
  });

  it('returns fresh objects each call', () => {
    const a = defaultRuleset(ALICE);
    const b = defaultRuleset(ALICE);
    expect(a).toEqual(b);
    a.override[1]!.actions.push('notify');
    expect(b.override[1]!.actions).toEqual([]);
    expect(a.override[4]!.actions[1]).not.toBe(a.override[5]!.actions[1]);
  });

  it('extracts localparts', () => {
    expect(localpartOf('@alice:example.org')).toBe('alice');
    expect(localpartOf('@a.b_c=d/e:example.org:8448')).toBe('a.b_c=d/e');
  });
});

describe('what each predefined rule does', () => {
  const rules = mergeRuleset(defaultRuleset(ALICE), {});
  const v1_17 = mergeRuleset(defaultRuleset(ALICE, { legacyMentionRules: false }), {});
  const mentions = (m: JsonObject, extra: JsonObject = {}) => ({ msgtype: 'm.text', body: 'hi', 'm.mentions': m, ...extra });
  const SOUND = 'default';

  // [name, event, context overrides, ruleset, expected rule, notify, highlight, sound]
  type Row = [string, JsonObject, Partial<PushContext>, Ruleset, string | undefined, boolean, boolean, string | undefined];
  const rows: Row[] = [
    ['a message in a group room', message({ msgtype: 'm.text', body: 'hello' }), {}, rules, '.m.rule.message', true, false, undefined],
    ['a message in a one-to-one room', message({ msgtype: 'm.text', body: 'hello' }), { roomMemberCount: 2 }, rules, '.m.rule.room_one_to_one', true, false, SOUND],
    ['a message in a three-member room', message({ msgtype: 'm.text', body: 'hello' }), { roomMemberCount: 3 }, rules, '.m.rule.message', true, false, undefined],
    ['an encrypted event in a one-to-one room', { type: 'm.room.encrypted', room_id: ROOM, sender: BOB, content: { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'x' } }, { roomMemberCount: 2 }, rules, '.m.rule.encrypted_room_one_to_one', true, false, SOUND],
    ['an encrypted event in a group room', { type: 'm.room.encrypted', room_id: ROOM, sender: BOB, content: { ciphertext: 'x' } }, {}, rules, '.m.rule.encrypted', true, false, undefined],
    ['a notice', message({ msgtype: 'm.notice', body: 'bot says hi' }), {}, rules, '.m.rule.suppress_notices', false, false, undefined],
    ['a notice that mentions the user', message({ msgtype: 'm.notice', body: 'hi', 'm.mentions': { user_ids: [ALICE] } }), {}, rules, '.m.rule.suppress_notices', false, false, undefined],
    ['a user mention via m.mentions', message(mentions({ user_ids: [ALICE] })), {}, rules, '.m.rule.is_user_mention', true, true, SOUND],
    ['a mention of someone else', message(mentions({ user_ids: [BOB] })), {}, rules, '.m.rule.message', true, false, undefined],
    ['m.mentions turns off the legacy rules', message(mentions({ user_ids: [BOB] }, { body: 'alice: Alice Liddell @room' })), { senderPowerLevel: 100 }, rules, '.m.rule.message', true, false, undefined],
    ['an empty m.mentions also turns them off', message(mentions({}, { body: 'alice' })), {}, rules, '.m.rule.message', true, false, undefined],
    ['user_ids must be an array', message(mentions({ user_ids: ALICE })), {}, v1_17, '.m.rule.message', true, false, undefined],
    ['the display name in the body (legacy)', message({ msgtype: 'm.text', body: 'hey Alice Liddell!' }), {}, rules, '.m.rule.contains_display_name', true, true, SOUND],
    ['the display name, case-insensitively (legacy)', message({ msgtype: 'm.text', body: 'ALICE LIDDELL: hi' }), {}, rules, '.m.rule.contains_display_name', true, true, SOUND],
    ['part of the display name is not enough', message({ msgtype: 'm.text', body: 'Liddell' }), {}, v1_17, '.m.rule.message', true, false, undefined],
    ['the user name in the body (legacy content rule)', message({ msgtype: 'm.text', body: 'alice: ping' }), { displayName: 'Al' }, rules, '.m.rule.contains_user_name', true, true, SOUND],
    ['the user name inside a word does not count', message({ msgtype: 'm.text', body: 'malice aforethought' }), { displayName: 'Al' }, rules, '.m.rule.message', true, false, undefined],
    ['no legacy rules in the v1.17 set', message({ msgtype: 'm.text', body: 'alice: Alice Liddell' }), {}, v1_17, '.m.rule.message', true, false, undefined],
    ['a room mention from a moderator', message(mentions({ room: true })), { senderPowerLevel: 50 }, rules, '.m.rule.is_room_mention', true, true, undefined],
    ['a room mention from a user without permission', message(mentions({ room: true })), { senderPowerLevel: 49 }, rules, '.m.rule.message', true, false, undefined],
    ['a room mention where notifications.room is 0', message(mentions({ room: true })), { notificationPowerLevels: { room: 0 } }, rules, '.m.rule.is_room_mention', true, true, undefined],
    ['a room mention where notifications.room is 100', message(mentions({ room: true })), { senderPowerLevel: 99, notificationPowerLevels: { room: 100 } }, rules, '.m.rule.message', true, false, undefined],
    ['m.mentions.room must be the boolean true', message(mentions({ room: 'true' })), { senderPowerLevel: 100 }, rules, '.m.rule.message', true, false, undefined],
    ['@room in the body from a moderator (legacy)', message({ msgtype: 'm.text', body: '@room meeting now' }), { senderPowerLevel: 50 }, rules, '.m.rule.roomnotif', true, true, undefined],
    ['@room in the body without permission (legacy)', message({ msgtype: 'm.text', body: '@room meeting now' }), { senderPowerLevel: 0 }, rules, '.m.rule.message', true, false, undefined],
    ['an edit', message({ msgtype: 'm.text', body: '* fixed', 'm.new_content': { body: 'fixed' }, 'm.relates_to': { rel_type: 'm.replace', event_id: '$orig' } }), {}, rules, '.m.rule.suppress_edits', false, false, undefined],
    ['an edit in a one-to-one room', message({ msgtype: 'm.text', body: '* fixed', 'm.relates_to': { rel_type: 'm.replace', event_id: '$orig' } }), { roomMemberCount: 2 }, rules, '.m.rule.suppress_edits', false, false, undefined],
    ['a reply is not an edit', message({ msgtype: 'm.text', body: 'yes', 'm.relates_to': { 'm.in_reply_to': { event_id: '$orig' } } }), {}, rules, '.m.rule.message', true, false, undefined],
    ['a reaction', { type: 'm.reaction', room_id: ROOM, sender: BOB, content: { 'm.relates_to': { rel_type: 'm.annotation', event_id: '$m', key: '👍' } } }, { roomMemberCount: 2 }, rules, '.m.rule.reaction', false, false, undefined],
    ['an invite for the user', state('m.room.member', ALICE, { membership: 'invite' }), {}, rules, '.m.rule.invite_for_me', true, false, SOUND],
    ['an invite for someone else', state('m.room.member', '@carol:example.org', { membership: 'invite' }), {}, rules, '.m.rule.member_event', false, false, undefined],
    ['someone joining', state('m.room.member', BOB, { membership: 'join' }), {}, rules, '.m.rule.member_event', false, false, undefined],
    ['the user being kicked', state('m.room.member', ALICE, { membership: 'leave' }), {}, rules, '.m.rule.member_event', false, false, undefined],
    ['a tombstone', state('m.room.tombstone', '', { body: 'moved', replacement_room: '!new:example.org' }), {}, rules, '.m.rule.tombstone', true, true, undefined],
    ['a tombstone with a non-empty state key', state('m.room.tombstone', 'x', { replacement_room: '!new:example.org' }), {}, rules, undefined, false, false, undefined],
    ['a non-state tombstone', { type: 'm.room.tombstone', room_id: ROOM, sender: BOB, content: {} }, {}, rules, undefined, false, false, undefined],
    ['a server ACL change', state('m.room.server_acl', '', { allow: ['*'], deny: [] }), {}, rules, '.m.rule.room.server_acl', false, false, undefined],
    ['a call invite', { type: 'm.call.invite', room_id: ROOM, sender: BOB, content: { call_id: 'c', version: '1', lifetime: 60000 } }, {}, rules, '.m.rule.call', true, false, 'ring'],
    ['an unknown event type', { type: 'org.example.custom', room_id: ROOM, sender: BOB, content: { body: 'x' } }, {}, rules, undefined, false, false, undefined],
    ['a topic change', state('m.room.topic', '', { topic: 'Alice' }), {}, rules, undefined, false, false, undefined],
    ['the user’s own message', message(mentions({ user_ids: [ALICE] }), ALICE), {}, rules, undefined, false, false, undefined],
  ];

  it.each(rows)('%s', (_name, event, over, ruleset, ruleId, notify, highlight, sound) => {
    const result = evaluatePushRules(event, ruleset, ctx(over));
    expect(result.ruleId).toBe(ruleId);
    expect(result.notify).toBe(notify);
    expect(result.highlight).toBe(highlight);
    expect(result.sound).toBe(sound);
  });

  it('reports the kind of the matching rule', () => {
    expect(evaluatePushRules(message({ body: 'alice?' }), rules, ctx({ displayName: 'Al' })).kind).toBe('content');
    expect(evaluatePushRules(message({ body: 'x' }), rules, ctx()).kind).toBe('underride');
    expect(evaluatePushRules(message({ msgtype: 'm.notice', body: 'x' }), rules, ctx()).kind).toBe('override');
  });

  it('lets the master rule silence everything once enabled', () => {
    const silenced = mergeRuleset(defaultRuleset(ALICE), {}, { override: { '.m.rule.master': { enabled: true } } });
    for (const event of [message(mentions({ user_ids: [ALICE] })), state('m.room.member', ALICE, { membership: 'invite' }), state('m.room.tombstone', '', {})]) {
      const r = evaluatePushRules(event, silenced, ctx({ roomMemberCount: 2 }));
      expect(r).toMatchObject({ ruleId: '.m.rule.master', notify: false, highlight: false, actions: [] });
    }
  });
});

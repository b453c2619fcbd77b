// Push rule conditions, actions, rule ordering and merging user rules with the server defaults.
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { defaultRuleset, mergeRuleset } from '../../src/push/default-rules.js';
import {
  conditionMatches,
  evaluatePushRules,
  interpretActions,
  memberCountMatches,
  parseMemberCountIs,
  type PushContext,
} from '../../src/push/evaluate.js';
import type { PushCondition, PushRule, Ruleset } from '../../src/push/types.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const ROOM = '!room:example.org';

const ctx = (over: Partial<PushContext> = {}): PushContext => ({
  userId: ALICE,
  displayName: 'Alice',
  roomMemberCount: 5,
  senderPowerLevel: 0,
  notificationPowerLevels: {},
  ...over,
});

const msg = (content: JsonObject, extra: JsonObject = {}): JsonObject => ({
  type: 'm.room.message',
  room_id: ROOM,
  sender: BOB,
  content,
  ...extra,
});

const userRule = (rule_id: string, fields: Partial<PushRule> = {}): PushRule => ({
  rule_id,
  default: false,
  enabled: true,
  actions: ['notify'],
  ...fields,
});

const empty = (): Ruleset => ({ override: [], content: [], room: [], sender: [], underride: [] });

describe('room_member_count', () => {
  const cases: [string, number, boolean][] = [
    ['2', 2, true],
    ['2', 3, false],
    ['==2', 2, true],
    ['==2', 1, false],
    ['<10', 9, true],
    ['<10', 10, false],
    ['>2', 3, true],
    ['>2', 2, false],
    ['>=2', 2, true],
    ['>=2', 1, false],
    ['<=10', 10, true],
    ['<=10', 11, false],
    ['0', 0, true],
    ['007', 7, true],
    // Malformed `is` never matches.
    ['=2', 2, false],
    ['=>2', 2, false],
    ['>>2', 3, false],
    ['2.0', 2, false],
    ['-1', -1, false],
    [' 2', 2, false],
    ['>= 2', 2, false],
    ['', 0, false],
    ['<', 0, false],
    ['99999999999999999999', 2, false],
  ];
  it.each(cases)('is %j with %d members -> %s', (is, count, expected) => {
    expect(memberCountMatches(is, count)).toBe(expected);
    expect(conditionMatches({ kind: 'room_member_count', is }, msg({}), ctx({ roomMemberCount: count }))).toBe(expected);
  });

  it('parses the operator, defaulting to ==', () => {
    expect(parseMemberCountIs('5')).toEqual({ op: '==', count: 5 });
    expect(parseMemberCountIs('<=5')).toEqual({ op: '<=', count: 5 });
    expect(parseMemberCountIs('x')).toBeNull();
  });

  it('does not match without `is`', () => {
    expect(conditionMatches({ kind: 'room_member_count' }, msg({}), ctx())).toBe(false);
  });
});

describe('event_match', () => {
  const event = msg(
    { body: 'An example event.', msgtype: 'm.text', 'm.relates_to': { rel_type: 'm.thread' }, num: 1, nil: null, arr: ['x'] },
    { state_key: '' },
  );
  const cases: [string, string, boolean][] = [
    ['type', 'm.room.message', true],
    ['type', 'm.room.*', true],
    ['type', 'M.ROOM.MESSAGE', true],
    ['type', 'm.room', false],
    ['content.body', 'ex*ple', true],
    ['content.body', 'example', true],
    ['content.body', 'exam', false],
    // Other keys match the whole value, not words.
    ['content.msgtype', 'text', false],
    ['content.msgtype', 'm.text', true],
    ['state_key', '', true],
    ['state_key', '*', true],
    ['room_id', ROOM, true],
    ['sender', '@bob:*', true],
    ['content.m\\.relates_to.rel_type', 'm.thread', true],
    ['content.m.relates_to.rel_type', 'm.thread', false],
    // Absent or non-string values never match, even `*`.
    ['content.missing', '*', false],
    ['content.num', '*', false],
    ['content.num', '1', false],
    ['content.nil', '*', false],
    ['content.arr', '*', false],
    ['content.m\\.relates_to', '*', false],
  ];
  it.each(cases)('key %j pattern %j -> %s', (key, pattern, expected) => {
    expect(conditionMatches({ kind: 'event_match', key, pattern }, event, ctx())).toBe(expected);
  });

  it('does not match a message event against state_key', () => {
    expect(conditionMatches({ kind: 'event_match', key: 'state_key', pattern: '*' }, msg({}), ctx())).toBe(false);
  });

  it('needs both key and pattern', () => {
    expect(conditionMatches({ kind: 'event_match', key: 'type' }, event, ctx())).toBe(false);
    expect(conditionMatches({ kind: 'event_match', pattern: '*' }, event, ctx())).toBe(false);
  });
});

describe('event_property_is', () => {
  const create: JsonObject = {
    type: 'm.room.create',
    state_key: '',
    room_id: ROOM,
    sender: BOB,
    content: { 'm.federate': true, room_version: '11', n: 5, f: 1.5, nil: null, obj: { a: 1 }, list: [1] },
  };
  const cases: [string, PushCondition['value'], boolean][] = [
    ['content.m\\.federate', true, true],
    // No casts.
    ['content.m\\.federate', 'true', false],
    ['content.m\\.federate', 1, false],
    ['content.room_version', '11', true],
    ['content.room_version', 11, false],
    ['content.n', 5, true],
    ['content.n', '5', false],
    ['content.nil', null, true],
    ['content.missing', null, false],
    ['content.nil', false, false],
    // Floats and compound values are not comparable.
    ['content.f', 1.5, false],
    ['content.obj', null, false],
    ['content.list', 1, false],
    ['state_key', '', true],
  ];
  it.each(cases)('key %j value %j -> %s', (key, value, expected) => {
    expect(conditionMatches({ kind: 'event_property_is', key, value }, create, ctx())).toBe(expected);
  });

  it('needs a value', () => {
    expect(conditionMatches({ kind: 'event_property_is', key: 'content.nil' }, create, ctx())).toBe(false);
  });
});

describe('event_property_contains', () => {
  const event: JsonObject = {
    type: 'm.room.canonical_alias',
    state_key: '',
    room_id: ROOM,
    sender: BOB,
    content: {
      alias: '#somewhere:localhost',
      alt_aliases: ['#somewhere:example.org', '#myroom:example.com'],
      mixed: [1, true, null, { a: 1 }, ['x'], 2.5],
    },
  };
  const cases: [string, PushCondition['value'], boolean][] = [
    ['content.alt_aliases', '#myroom:example.com', true],
    ['content.alt_aliases', ':example.com', false],
    ['content.alt_aliases', '#MYROOM:example.com', false],
    ['content.alias', '#somewhere:localhost', false],
    ['content.missing', 'x', false],
    ['content.mixed', 1, true],
    ['content.mixed', true, true],
    ['content.mixed', null, true],
    ['content.mixed', '1', false],
    ['content.mixed', false, false],
    ['content.mixed', 'x', false],
  ];
  it.each(cases)('key %j value %j -> %s', (key, value, expected) => {
    expect(conditionMatches({ kind: 'event_property_contains', key, value }, event, ctx())).toBe(expected);
  });

  it('finds a user in m.mentions through the escaped key', () => {
    const c: PushCondition = { kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: ALICE };
    expect(conditionMatches(c, msg({ 'm.mentions': { user_ids: [BOB, ALICE] } }), ctx())).toBe(true);
    expect(conditionMatches(c, msg({ 'm.mentions': { user_ids: [BOB] } }), ctx())).toBe(false);
    expect(conditionMatches(c, msg({ m: { mentions: { user_ids: [ALICE] } } }), ctx())).toBe(false);
  });
});

describe('contains_display_name', () => {
  const c: PushCondition = { kind: 'contains_display_name' };
  it.each([
    ['Alice', 'hi Alice!', true],
    ['Alice', 'hi ALICE', true],
    ['Alice', 'Malice', false],
    ['Alice', 'Alice_', false],
    ['Dr. Who?', 'hello dr. who? are you there', true],
    ['Dr. Who?', 'hello dr. whom', false],
    ['A*', 'Abc', false],
    ['', 'anything', false],
  ] as [string, string, boolean][])('display name %j in %j -> %s', (displayName, body, expected) => {
    expect(conditionMatches(c, msg({ body }), ctx({ displayName }))).toBe(expected);
  });

  it('does not match without a display name or a string body', () => {
    expect(conditionMatches(c, msg({ body: 'Alice' }), ctx({ displayName: undefined }))).toBe(false);
    expect(conditionMatches(c, msg({ body: ['Alice'] }), ctx())).toBe(false);
    expect(conditionMatches(c, msg({}), ctx())).toBe(false);
  });
});

describe('sender_notification_permission', () => {
  it.each([
    [{}, 50, true],
    [{}, 49, false],
    [{ room: 10 }, 10, true],
    [{ room: 10 }, 9, false],
    [{ room: 'x' as unknown as number }, 50, true],
    [{ room: 'x' as unknown as number }, 49, false],
  ] as [Record<string, number>, number, boolean][])('levels %j, sender at %d -> %s', (levels, senderPowerLevel, expected) => {
    expect(conditionMatches({ kind: 'sender_notification_permission', key: 'room' }, msg({}), ctx({ senderPowerLevel, notificationPowerLevels: levels }))).toBe(expected);
  });

  it('looks up other keys too, and ignores inherited properties', () => {
    const c = { kind: 'sender_notification_permission', key: 'custom' };
    expect(conditionMatches(c, msg({}), ctx({ senderPowerLevel: 20, notificationPowerLevels: { custom: 20, room: 100 } }))).toBe(true);
    expect(conditionMatches({ kind: 'sender_notification_permission', key: 'toString' }, msg({}), ctx({ senderPowerLevel: 49 }))).toBe(false);
    expect(conditionMatches({ kind: 'sender_notification_permission' }, msg({}), ctx({ senderPowerLevel: 100 }))).toBe(false);
  });
});

describe('rules', () => {
  it('never matches a rule with an unknown condition', () => {
    const rs = empty();
    rs.override.push(userRule('weird', { conditions: [{ kind: 'org.example.unknown' }] }));
    rs.underride.push(userRule('all', { actions: [] }));
    expect(evaluatePushRules(msg({}), rs, ctx()).ruleId).toBe('all');
  });

  it('matches everything with no conditions, whether absent or empty', () => {
    const rs = empty();
    rs.override.push(userRule('no-conditions'));
    expect(evaluatePushRules({ type: 'x', sender: BOB, content: {} }, rs, ctx()).ruleId).toBe('no-conditions');
    rs.override[0] = userRule('empty-conditions', { conditions: [] });
    expect(evaluatePushRules({ type: 'x', sender: BOB, content: {} }, rs, ctx()).ruleId).toBe('empty-conditions');
  });

  it('needs every condition to hold', () => {
    const rs = empty();
    rs.override.push(
      userRule('both', {
        conditions: [
          { kind: 'event_match', key: 'type', pattern: 'm.room.message' },
          { kind: 'room_member_count', is: '<=10' },
        ],
      }),
    );
    expect(evaluatePushRules(msg({}), rs, ctx({ roomMemberCount: 10 })).ruleId).toBe('both');
    expect(evaluatePushRules(msg({}), rs, ctx({ roomMemberCount: 11 })).ruleId).toBeUndefined();
  });

  it('skips disabled rules', () => {
    const rs = empty();
    rs.override.push(userRule('off', { enabled: false, actions: [] }));
    rs.underride.push(userRule('on'));
    expect(evaluatePushRules(msg({}), rs, ctx()).ruleId).toBe('on');
  });

  it('matches room rules by room ID, sender rules by sender, content rules by body words', () => {
    const rs = empty();
    rs.room.push(userRule(ROOM, { actions: [] }));
    rs.sender.push(userRule(BOB, { actions: ['notify', { set_tweak: 'sound', value: 'bob.wav' }] }));
    rs.content.push(userRule('cake', { pattern: 'cake*lie' }));
    expect(evaluatePushRules(msg({ body: 'the cake is a lie' }), rs, ctx()).ruleId).toBe('cake');
    expect(evaluatePushRules(msg({ body: 'the cakes are lies' }), rs, ctx()).ruleId).toBe(ROOM);
    expect(evaluatePushRules(msg({ body: 'x' }, { room_id: '!other:example.org' }), rs, ctx())).toMatchObject({ ruleId: BOB, sound: 'bob.wav' });
    expect(evaluatePushRules(msg({ body: 'x' }, { room_id: '!other:example.org', sender: '@carol:example.org' }), rs, ctx()).ruleId).toBeUndefined();
  });

  it('ignores a content rule without a pattern', () => {
    const rs = empty();
    rs.content.push(userRule('broken'));
    expect(evaluatePushRules(msg({ body: 'x' }), rs, ctx()).ruleId).toBeUndefined();
  });

  it('checks kinds in the order override, content, room, sender, underride', () => {
    const all = (): Ruleset => ({
      override: [userRule('o', { conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'o' }] })],
      content: [userRule('c', { pattern: 'c' })],
      room: [userRule(ROOM)],
      sender: [userRule(BOB)],
      underride: [userRule('u')],
    });
    expect(evaluatePushRules(msg({ body: 'o c' }), all(), ctx()).ruleId).toBe('o');
    expect(evaluatePushRules(msg({ body: 'c' }), all(), ctx()).ruleId).toBe('c');
    expect(evaluatePushRules(msg({ body: 'x' }), all(), ctx()).ruleId).toBe(ROOM);
    const noRoom = all();
    noRoom.room = [];
    expect(evaluatePushRules(msg({ body: 'x' }), noRoom, ctx()).ruleId).toBe(BOB);
    noRoom.sender = [];
    expect(evaluatePushRules(msg({ body: 'x' }), noRoom, ctx()).ruleId).toBe('u');
  });

  it('takes the first matching rule within a kind', () => {
    const rs = empty();
    rs.content.push(userRule('time', { pattern: 'time', actions: ['notify', { set_tweak: 'sound', value: 'clock' }] }), userRule('tea', { pattern: 'tea' }));
    expect(evaluatePushRules(msg({ body: "It's time for tea" }), rs, ctx())).toMatchObject({ ruleId: 'time', sound: 'clock' });
  });

  it('never notifies users about their own events', () => {
    const rs = empty();
    rs.override.push(userRule('all'));
    expect(evaluatePushRules(msg({}, { sender: ALICE }), rs, ctx())).toEqual({ notify: false, highlight: false, tweaks: {}, actions: [] });
  });
});

describe('actions', () => {
  it('drops the historical dont_notify and coalesce', () => {
    expect(interpretActions(['dont_notify'])).toEqual({ notify: false, highlight: false, tweaks: {}, actions: [] });
    expect(interpretActions(['coalesce', 'notify'])).toMatchObject({ notify: true, actions: ['notify'] });
  });

  it('reads highlight: no value means true, false stays false, absent is false', () => {
    expect(interpretActions(['notify', { set_tweak: 'highlight' }]).highlight).toBe(true);
    expect(interpretActions(['notify', { set_tweak: 'highlight', value: true }]).highlight).toBe(true);
    expect(interpretActions(['notify', { set_tweak: 'highlight', value: false }]).highlight).toBe(false);
    expect(interpretActions(['notify', { set_tweak: 'highlight', value: 'yes' }]).highlight).toBe(false);
    expect(interpretActions(['notify']).highlight).toBe(false);
  });

  it('passes every tweak through, the last setting winning', () => {
    const r = interpretActions([
      'notify',
      { set_tweak: 'sound', value: 'default' },
      { set_tweak: 'org.example.led', value: { colour: 'red' } },
      { set_tweak: 'sound', value: 'ring' },
      { set_tweak: '__proto__', value: 1 },
    ]);
    expect(r.sound).toBe('ring');
    expect(r.tweaks).toEqual({ sound: 'ring', 'org.example.led': { colour: 'red' }, ['__proto__']: 1 });
    expect(Object.getPrototypeOf(r.tweaks)).toBe(Object.prototype);
    expect(interpretActions([{ set_tweak: 'sound', value: 3 }]).sound).toBeUndefined();
  });

  it('does not notify for a match without notify', () => {
    const rs = empty();
    rs.override.push(userRule('quiet', { actions: [{ set_tweak: 'highlight' }] }));
    expect(evaluatePushRules(msg({}), rs, ctx())).toMatchObject({ ruleId: 'quiet', notify: false, highlight: true });
  });
});

describe('mergeRuleset', () => {
  const defaults = defaultRuleset(ALICE);

  it('puts user override rules after .m.rule.master and before the other server-default overrides', () => {
    const merged = mergeRuleset(defaults, { override: [userRule('mine-1'), userRule('mine-2')] });
    expect(merged.override.map((r) => r.rule_id).slice(0, 4)).toEqual(['.m.rule.master', 'mine-1', 'mine-2', '.m.rule.suppress_notices']);
  });

  it('puts user rules of the other kinds before the server-default ones', () => {
    const merged = mergeRuleset(defaults, {
      content: [userRule('cake', { pattern: 'cake' })],
      room: [userRule(ROOM)],
      sender: [userRule(BOB)],
      underride: [userRule('late')],
    });
    expect(merged.content.map((r) => r.rule_id)).toEqual(['cake', '.m.rule.contains_user_name']);
    expect(merged.room.map((r) => r.rule_id)).toEqual([ROOM]);
    expect(merged.sender.map((r) => r.rule_id)).toEqual([BOB]);
    expect(merged.underride.map((r) => r.rule_id)).toEqual(['late', '.m.rule.call', '.m.rule.encrypted_room_one_to_one', '.m.rule.room_one_to_one', '.m.rule.message', '.m.rule.encrypted']);
  });

  it('marks user rules as not default and server rules as default', () => {
    const merged = mergeRuleset(defaults, { override: [{ ...userRule('mine'), default: true }] });
    expect(merged.override.find((r) => r.rule_id === 'mine')?.default).toBe(false);
    expect(merged.override.filter((r) => r.rule_id.startsWith('.')).every((r) => r.default)).toBe(true);
  });

  it('lets a user override rule outrank server-default overrides but not an enabled master', () => {
    const loud = userRule('loud-notices', {
      conditions: [{ kind: 'event_match', key: 'content.msgtype', pattern: 'm.notice' }],
      actions: ['notify', { set_tweak: 'sound', value: 'bell' }],
    });
    const merged = mergeRuleset(defaults, { override: [loud] });
    const notice = msg({ msgtype: 'm.notice', body: 'x' });
    expect(evaluatePushRules(notice, merged, ctx())).toMatchObject({ ruleId: 'loud-notices', notify: true, sound: 'bell' });
    const mastered = mergeRuleset(defaults, { override: [loud] }, { override: { '.m.rule.master': { enabled: true } } });
    expect(evaluatePushRules(notice, mastered, ctx()).ruleId).toBe('.m.rule.master');
  });

  it('lets a user underride rule outrank the server-default underrides', () => {
    const merged = mergeRuleset(defaults, { underride: [userRule('every-message', { conditions: [{ kind: 'event_match', key: 'type', pattern: 'm.room.message' }], actions: [] })] });
    expect(evaluatePushRules(msg({ body: 'x' }), merged, ctx({ roomMemberCount: 2 }))).toMatchObject({ ruleId: 'every-message', notify: false });
  });

  it('applies enabled and actions overrides to server-default and user rules', () => {
    const merged = mergeRuleset(
      defaults,
      { underride: [userRule('mine')] },
      {
        underride: { '.m.rule.message': { actions: ['dont_notify'] }, mine: { enabled: false } },
        override: { '.m.rule.suppress_notices': { enabled: false } },
      },
    );
    expect(merged.underride.find((r) => r.rule_id === 'mine')?.enabled).toBe(false);
    expect(merged.underride.find((r) => r.rule_id === '.m.rule.message')?.actions).toEqual(['dont_notify']);
    expect(evaluatePushRules(msg({ body: 'x' }), merged, ctx())).toMatchObject({ ruleId: '.m.rule.message', notify: false, actions: [] });
    // suppress_notices is disabled, so a notice falls through to .m.rule.message too.
    expect(evaluatePushRules(msg({ msgtype: 'm.notice', body: 'x' }), merged, ctx()).ruleId).toBe('.m.rule.message');
  });

  it('disabling a server-default rule lets the next one match', () => {
    const merged = mergeRuleset(defaults, {}, { underride: { '.m.rule.room_one_to_one': { enabled: false } } });
    expect(evaluatePushRules(msg({ body: 'x' }), merged, ctx({ roomMemberCount: 2 })).ruleId).toBe('.m.rule.message');
  });

  it('ignores overrides of other kinds and inherited keys', () => {
    const merged = mergeRuleset(defaults, {}, { override: { '.m.rule.message': { enabled: false }, toString: { enabled: false } } as never });
    expect(merged.underride.find((r) => r.rule_id === '.m.rule.message')?.enabled).toBe(true);
  });

  it('does not change its inputs', () => {
    const before = JSON.stringify(defaults);
    const user = { override: [userRule('x')] };
    mergeRuleset(defaults, user, { override: { '.m.rule.master': { enabled: true, actions: ['notify'] } } });
    expect(JSON.stringify(defaults)).toBe(before);
    expect(user.override[0]!.default).toBe(false);
    expect(defaults.override[0]!.enabled).toBe(false);
  });
});

// Validation of user-supplied push rules (PUT /pushrules/global/{kind}/{ruleId}) and their stored form.
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { evaluatePushRules } from '../../src/push/evaluate.js';
import { userPushRuleFromBody, validatePushActions, validatePushRule } from '../../src/push/validate.js';

describe('validatePushRule', () => {
  // [description, kind, ruleId, body, expected errcode or null]
  const cases: [string, string, string, unknown, string | null][] = [
    ['a content rule', 'content', 'nocake', { pattern: 'cake*lie', actions: ['notify'] }, null],
    ['an override rule with conditions', 'override', 'beer', { conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'beer' }, { kind: 'room_member_count', is: '<=10' }], actions: ['notify', { set_tweak: 'sound', value: 'beeroclock.wav' }] }, null],
    ['an override rule without conditions', 'override', 'all', { actions: [] }, null],
    ['an underride rule', 'underride', 'u', { conditions: [], actions: ['notify', { set_tweak: 'highlight', value: false }] }, null],
    ['a room rule', 'room', '!dj234r78wl45Gh4D:matrix.org', { actions: [] }, null],
    ['a sender rule', 'sender', '@spambot:matrix.org', { actions: [] }, null],
    ['historical actions', 'room', '!r:x', { actions: ['dont_notify', 'coalesce'] }, null],
    ['a custom tweak', 'room', '!r:x', { actions: [{ set_tweak: 'org.example.led', value: { c: 1 } }] }, null],
    ['an unknown condition kind', 'override', 'future', { conditions: [{ kind: 'org.example.future', foo: 1 }], actions: [] }, null],
    ['each known condition', 'underride', 'every', {
      conditions: [
        { kind: 'event_match', key: 'type', pattern: '*' },
        { kind: 'event_property_is', key: 'content.m\\.federate', value: true },
        { kind: 'event_property_is', key: 'content.x', value: null },
        { kind: 'event_property_contains', key: 'content.tags', value: 3 },
        { kind: 'contains_display_name' },
        { kind: 'room_member_count', is: '2' },
        { kind: 'sender_notification_permission', key: 'room' },
      ],
      actions: ['notify'],
    }, null],
    ['keys that do not apply to the kind are ignored', 'room', '!r:x', { actions: [], pattern: 5, conditions: 'x' }, null],
    // Path problems.
    ['an unknown kind', 'postcontent', 'x', { actions: [] }, 'M_INVALID_PARAM'],
    ['a rule ID starting with a dot', 'override', '.m.rule.mine', { actions: [] }, 'M_INVALID_PARAM'],
    ['a rule ID with a slash', 'override', 'a/b', { actions: [] }, 'M_INVALID_PARAM'],
    ['a rule ID with a backslash', 'override', 'a\\b', { actions: [] }, 'M_INVALID_PARAM'],
    ['an empty rule ID', 'override', '', { actions: [] }, 'M_INVALID_PARAM'],
    // Body problems.
    ['a non-object body', 'override', 'x', ['notify'], 'M_BAD_JSON'],
    ['a null body', 'override', 'x', null, 'M_BAD_JSON'],
    ['missing actions', 'override', 'x', { conditions: [] }, 'M_BAD_JSON'],
    ['actions not an array', 'override', 'x', { actions: 'notify' }, 'M_BAD_JSON'],
    ['an unknown string action', 'override', 'x', { actions: ['notify', 'shout'] }, 'M_BAD_JSON'],
    ['an action object without set_tweak', 'override', 'x', { actions: [{ value: 1 }] }, 'M_BAD_JSON'],
    ['a numeric action', 'override', 'x', { actions: [1] }, 'M_BAD_JSON'],
    ['a non-boolean highlight', 'override', 'x', { actions: [{ set_tweak: 'highlight', value: 'yes' }] }, 'M_BAD_JSON'],
    ['a non-string sound', 'override', 'x', { actions: [{ set_tweak: 'sound', value: 1 }] }, 'M_BAD_JSON'],
    ['a content rule without pattern', 'content', 'x', { actions: ['notify'] }, 'M_BAD_JSON'],
    ['a content rule with a non-string pattern', 'content', 'x', { pattern: 1, actions: ['notify'] }, 'M_BAD_JSON'],
    ['conditions not an array', 'override', 'x', { conditions: {}, actions: [] }, 'M_BAD_JSON'],
    ['a condition without kind', 'override', 'x', { conditions: [{ key: 'type', pattern: 'x' }], actions: [] }, 'M_BAD_JSON'],
    ['a condition that is not an object', 'underride', 'x', { conditions: ['event_match'], actions: [] }, 'M_BAD_JSON'],
    ['event_match without pattern', 'override', 'x', { conditions: [{ kind: 'event_match', key: 'type' }], actions: [] }, 'M_BAD_JSON'],
    ['event_match without key', 'override', 'x', { conditions: [{ kind: 'event_match', pattern: 'x' }], actions: [] }, 'M_BAD_JSON'],
    ['event_property_is without value', 'override', 'x', { conditions: [{ kind: 'event_property_is', key: 'type' }], actions: [] }, 'M_BAD_JSON'],
    ['event_property_is with a float', 'override', 'x', { conditions: [{ kind: 'event_property_is', key: 'type', value: 1.5 }], actions: [] }, 'M_BAD_JSON'],
    ['event_property_is with an integer out of range', 'override', 'x', { conditions: [{ kind: 'event_property_is', key: 'type', value: 2 ** 53 }], actions: [] }, 'M_BAD_JSON'],
    ['event_property_contains with an object', 'override', 'x', { conditions: [{ kind: 'event_property_contains', key: 'type', value: {} }], actions: [] }, 'M_BAD_JSON'],
    ['room_member_count with a bad is', 'override', 'x', { conditions: [{ kind: 'room_member_count', is: '=2' }], actions: [] }, 'M_BAD_JSON'],
    ['room_member_count with a numeric is', 'override', 'x', { conditions: [{ kind: 'room_member_count', is: 2 }], actions: [] }, 'M_BAD_JSON'],
    ['sender_notification_permission without key', 'override', 'x', { conditions: [{ kind: 'sender_notification_permission' }], actions: [] }, 'M_BAD_JSON'],
  ];
  it.each(cases)('%s', (_d, kind, ruleId, body, errcode) => {
    const err = validatePushRule(kind, ruleId, body);
    if (errcode === null) expect(err).toBeNull();
    else {
      expect(err?.errcode).toBe(errcode);
      expect(err?.error).toEqual(expect.any(String));
    }
  });

  it('validates a bare actions array for PUT .../actions', () => {
    expect(validatePushActions(['notify', { set_tweak: 'sound', value: 'default' }])).toBeNull();
    expect(validatePushActions([])).toBeNull();
    expect(validatePushActions(['nope'])?.errcode).toBe('M_BAD_JSON');
    expect(validatePushActions(undefined)?.errcode).toBe('M_BAD_JSON');
  });
});

describe('userPushRuleFromBody', () => {
  it('builds an enabled, non-default content rule with only the keys its kind uses', () => {
    const body: JsonObject = { pattern: 'cake', actions: ['notify', 'dont_notify', { set_tweak: 'sound', value: 'cakealarm.wav' }], conditions: [] };
    expect(validatePushRule('content', 'cake', body)).toBeNull();
    expect(userPushRuleFromBody('content', 'cake', body)).toEqual({
      rule_id: 'cake',
      default: false,
      enabled: true,
      pattern: 'cake',
      actions: ['notify', { set_tweak: 'sound', value: 'cakealarm.wav' }],
    });
  });

  it('gives override and underride rules a conditions list, keeping unknown conditions whole', () => {
    expect(userPushRuleFromBody('underride', 'u', { actions: [] })).toEqual({ rule_id: 'u', default: false, enabled: true, actions: [], conditions: [] });
    const rule = userPushRuleFromBody('override', 'o', { actions: ['notify'], pattern: 'ignored', conditions: [{ kind: 'org.example.future', foo: [1] }] });
    expect(rule).toEqual({ rule_id: 'o', default: false, enabled: true, actions: ['notify'], conditions: [{ kind: 'org.example.future', foo: [1] }] });
  });

  it('gives room and sender rules neither pattern nor conditions', () => {
    expect(userPushRuleFromBody('room', '!r:x', { actions: [], pattern: 'p', conditions: [] })).toEqual({ rule_id: '!r:x', default: false, enabled: true, actions: [] });
  });

  it('produces rules the evaluator uses as written', () => {
    const body: JsonObject = { conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'beer' }, { kind: 'room_member_count', is: '<=10' }], actions: ['notify', { set_tweak: 'sound', value: 'beeroclock.wav' }] };
    expect(validatePushRule('override', 'beer', body)).toBeNull();
    const rule = userPushRuleFromBody('override', 'beer', body);
    const rs = { override: [rule], content: [], room: [], sender: [], underride: [] };
    const ctx = { userId: '@a:x', roomMemberCount: 8, senderPowerLevel: 0, notificationPowerLevels: {} };
    const event = { type: 'm.room.message', sender: '@b:x', room_id: '!r:x', content: { body: 'Beer time?' } };
    expect(evaluatePushRules(event, rs, ctx)).toMatchObject({ ruleId: 'beer', notify: true, sound: 'beeroclock.wav' });
    expect(evaluatePushRules(event, rs, { ...ctx, roomMemberCount: 11 }).ruleId).toBeUndefined();
  });
});

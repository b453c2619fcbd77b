// The bulk evaluator (src/push/bulk.ts) against the per-user evaluator (src/push/evaluate.ts): for
// every event and member, the bulk outcome must equal evaluating that member's ruleset alone.
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { BulkPushEvaluator, NO_NOTIFICATION, type BulkMember, type RoomPushFacts } from '../../src/push/bulk.js';
import { defaultRuleset, mergeRuleset } from '../../src/push/default-rules.js';
import { evaluatePushRules } from '../../src/push/evaluate.js';
import type { Ruleset } from '../../src/push/types.js';

const S = 'example.org';
const memberList: BulkMember[] = [
  { userId: `@alice:${S}`, displayName: 'Alice' },
  { userId: `@bob:${S}`, displayName: 'Bobby Tables' },
  { userId: `@carol:${S}`, displayName: undefined },
  { userId: `@dave:${S}`, displayName: 'D*ve?' },
  { userId: `@erin:${S}`, displayName: 'Erin' },
  { userId: `@frank:${S}`, displayName: 'Frank' },
];
const members = new Map(memberList.map((m) => [m.userId, m]));

/** Custom rules for some members: a muted sender, a keyword, a disabled default, the master rule. */
const custom = new Map<string, Ruleset>([
  [`@erin:${S}`, mergeRuleset(defaultRuleset(`@erin:${S}`), { sender: [{ rule_id: `@alice:${S}`, default: false, enabled: true, actions: [] }] })],
  [
    `@frank:${S}`,
    mergeRuleset(
      defaultRuleset(`@frank:${S}`),
      { content: [{ rule_id: 'tea', default: false, enabled: true, pattern: 'tea', actions: ['notify', { set_tweak: 'highlight', value: false }] }] },
      { underride: { '.m.rule.message': { enabled: false } } },
    ),
  ],
  [`@dave:${S}`, mergeRuleset(defaultRuleset(`@dave:${S}`), {}, { override: { '.m.rule.master': { enabled: true } } })],
]);

function msg(sender: string, content: JsonObject, type = 'm.room.message', stateKey?: string): JsonObject {
  const ev: JsonObject = { type, sender, room_id: `!room:${S}`, content };
  if (stateKey !== undefined) ev.state_key = stateKey;
  return ev;
}

const events: JsonObject[] = [
  msg(`@alice:${S}`, { msgtype: 'm.text', body: 'hello' }),
  msg(`@alice:${S}`, { msgtype: 'm.text', body: 'hello', 'm.mentions': {} }),
  msg(`@alice:${S}`, { msgtype: 'm.text', body: 'hi bob', 'm.mentions': { user_ids: [`@bob:${S}`, `@carol:${S}`] } }),
  msg(`@bob:${S}`, { msgtype: 'm.text', body: 'alice, bobby tables here' }),
  msg(`@bob:${S}`, { msgtype: 'm.text', body: 'D*ve? are you there, carol' }),
  msg(`@carol:${S}`, { msgtype: 'm.text', body: 'tea time for erin' }),
  msg(`@carol:${S}`, { msgtype: 'm.notice', body: 'alice' }),
  msg(`@alice:${S}`, { msgtype: 'm.text', body: '@room look', 'm.mentions': { room: true } }),
  msg(`@alice:${S}`, { msgtype: 'm.text', body: '@room look' }),
  msg(`@alice:${S}`, { body: 'ciphertext' }, 'm.room.encrypted'),
  msg(`@alice:${S}`, { call_id: '1' }, 'm.call.invite'),
  msg(`@alice:${S}`, { membership: 'invite' }, 'm.room.member', `@frank:${S}`),
  msg(`@alice:${S}`, { membership: 'invite' }, 'm.room.member', `@erin:${S}`),
  msg(`@alice:${S}`, { membership: 'join', displayname: 'bob' }, 'm.room.member', `@alice:${S}`),
  msg(`@alice:${S}`, { body: 'x' }, 'm.room.tombstone', ''),
  msg(`@alice:${S}`, { 'm.relates_to': { rel_type: 'm.annotation', event_id: '$x', key: 'bob' } }, 'm.reaction'),
  msg(`@alice:${S}`, { msgtype: 'm.text', body: '* bob', 'm.relates_to': { rel_type: 'm.replace', event_id: '$x' } }),
  msg(`@alice:${S}`, { msgtype: 'm.text', body: 'ERIN!' }),
  msg(`@alice:${S}`, { msgtype: 'm.text', body: 'frankly, tea' }),
];

const factsList: RoomPushFacts[] = [
  { memberCount: 2, senderPowerLevel: 0, notificationPowerLevels: {} },
  { memberCount: 6, senderPowerLevel: 100, notificationPowerLevels: {} },
  { memberCount: 6, senderPowerLevel: 10, notificationPowerLevels: { room: 5 } },
];

describe('BulkPushEvaluator', () => {
  it('gives every member the outcome of their own ruleset, for every event and room', () => {
    const bulk = new BulkPushEvaluator();
    let compared = 0;
    let exceptionsSeen = 0;
    for (const facts of factsList) {
      for (const [event, withCustomList] of events.flatMap((e) => [[e, false], [e, true]] as const)) {
        // With the list of custom-rule members, default members are visited only when needed.
        const customList = withCustomList ? memberList.filter((m) => custom.has(m.userId)) : undefined;
        const result = bulk.evaluate(event, members, facts, (u) => custom.get(u), customList);
        exceptionsSeen += result.exceptions.size;
        for (const m of memberList) {
          const ruleset = custom.get(m.userId) ?? defaultRuleset(m.userId);
          const expected = evaluatePushRules(event, ruleset, {
            userId: m.userId,
            displayName: m.displayName,
            roomMemberCount: facts.memberCount,
            senderPowerLevel: facts.senderPowerLevel,
            notificationPowerLevels: facts.notificationPowerLevels,
          });
          const got = m.userId === event.sender ? undefined : (result.exceptions.get(m.userId) ?? result.common);
          if (m.userId === event.sender) {
            expect(result.exceptions.has(m.userId)).toBe(false);
            continue;
          }
          const want = expected.notify ? { notify: true, highlight: expected.highlight, actions: expected.actions } : { notify: false, highlight: false, actions: [] };
          expect({ notify: got!.notify, highlight: got!.highlight, actions: got!.actions }, `${JSON.stringify(event)} for ${m.userId}`).toEqual(want);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(500);
    expect(exceptionsSeen).toBeGreaterThan(20);
  });

  it('records no exceptions for a plain message among default-rule members', () => {
    const bulk = new BulkPushEvaluator();
    const plain = new Map(memberList.filter((m) => !custom.has(m.userId)).map((m) => [m.userId, m]));
    const r = bulk.evaluate(msg(`@alice:${S}`, { msgtype: 'm.text', body: 'nothing special', 'm.mentions': {} }), plain, factsList[1]!, () => undefined);
    expect(r.common).toMatchObject({ notify: true, highlight: false, actions: ['notify'] });
    expect(r.exceptions.size).toBe(0);
    const none = bulk.evaluate(msg(`@alice:${S}`, { msgtype: 'm.notice', body: 'bot' }), plain, factsList[1]!, () => undefined);
    expect(none.common).toBe(NO_NOTIFICATION);
    expect(none.exceptions.size).toBe(0);
  });

  it('without the legacy mention rules, names in the body do not highlight', () => {
    const bulk = new BulkPushEvaluator({ legacyMentionRules: false });
    const r = bulk.evaluate(msg(`@alice:${S}`, { msgtype: 'm.text', body: 'bob and Bobby Tables' }), members, factsList[1]!, () => undefined);
    expect(r.exceptions.size).toBe(0);
    expect(r.common.highlight).toBe(false);
  });
});

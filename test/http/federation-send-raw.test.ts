// The pure parts of inbound federation: slicing each PDU's raw text out of a transaction body, the
// trimming of `unsigned`, the format step's strict parsing, and the history visibility rule for servers.
import { describe, expect, it } from 'vitest';
import { signingKeyFromSeed } from '../../src/core/crypto/ed25519.js';
import { computeEventId } from '../../src/core/events/hashes.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import { checkPduFormat, trimUnsigned, visibleToServer } from '../../src/federation/inbound/index.js';
import { topLevelArrayElements } from '../../src/federation/inbound/raw-json.js';

describe('topLevelArrayElements', () => {
  it('returns each element\'s exact text, whitespace inside elements kept', () => {
    const text = ' { "origin" : "x", "pdus" : [ {"a": 1,  "b":[1,2,{"c":"]}"}]} , {"s":"q\\"uo\\\\"} ,3,"str",null,true ] , "edus":[] } ';
    expect(topLevelArrayElements(text, 'pdus')).toEqual(['{"a": 1,  "b":[1,2,{"c":"]}"}]}', '{"s":"q\\"uo\\\\"}', '3', '"str"', 'null', 'true']);
    expect(topLevelArrayElements(text, 'edus')).toEqual([]);
  });

  it('the last occurrence of a repeated key wins, as JSON.parse keeps it', () => {
    const text = '{"pdus":[1],"pdus":[{"x":2}]}';
    expect(topLevelArrayElements(text, 'pdus')).toEqual(['{"x":2}']);
    expect(JSON.parse(text).pdus).toEqual([{ x: 2 }]);
  });

  it('keys written with escapes are matched decoded; nested keys of the same name are not top level', () => {
    expect(topLevelArrayElements('{"p\\u0064us":["a"]}', 'pdus')).toEqual(['"a"']);
    expect(topLevelArrayElements('{"x":{"pdus":[1]}}', 'pdus')).toBeNull();
  });

  it('null when the value is not an array or the text is not an object', () => {
    expect(topLevelArrayElements('{"pdus":{}}', 'pdus')).toBeNull();
    expect(topLevelArrayElements('[1,2]', 'pdus')).toBeNull();
    expect(topLevelArrayElements('{"pdus":[1],"pdus":5}', 'pdus')).toBeNull();
  });

  it('agrees with JSON.parse on every element of a generated body', () => {
    const pdus = Array.from({ length: 20 }, (_, i) => ({ i, s: `x"${'\\'.repeat(i % 3)}]}[{`, n: [i, { d: -(i + 1) * 1.5 }], u: '\u2603\ud83d\ude00' }));
    for (const text of [JSON.stringify({ pdus }), JSON.stringify({ edus: [], pdus }, null, 3)]) {
      const slices = topLevelArrayElements(text, 'pdus')!;
      expect(slices.map((s) => JSON.parse(s))).toEqual(pdus);
    }
  });
});

describe('trimUnsigned', () => {
  it('keeps only invite_room_state and knock_room_state, on member events', () => {
    expect(trimUnsigned({ type: 'm.room.message' })).toBeNull();
    expect(trimUnsigned({ type: 'm.room.message', unsigned: { age: 5 } })).toEqual({ type: 'm.room.message' });
    const invite = { type: 'm.room.member', unsigned: { invite_room_state: [{ a: 1 }], age: 1, other: 2 } };
    expect(trimUnsigned(invite)).toEqual({ type: 'm.room.member', unsigned: { invite_room_state: [{ a: 1 }] } });
    expect(trimUnsigned({ type: 'm.room.member', unsigned: { knock_room_state: [] } })).toBeNull();
    expect(trimUnsigned({ type: 'm.room.topic', unsigned: { invite_room_state: [] } })).toEqual({ type: 'm.room.topic' });
  });
});

describe('checkPduFormat', () => {
  const key = signingKeyFromSeed('k', Buffer.alloc(32, 3));
  const v10 = requireRoomVersion('10');
  const v5 = requireRoomVersion('5');
  const pdu = (version = v10) =>
    hashAndSignEvent(
      { type: 'm.room.message', room_id: '!r:x.test', sender: '@u:x.test', content: { n: 1 }, depth: 3, origin_server_ts: 1, prev_events: ['$' + 'P'.repeat(43)], auth_events: ['$' + 'A'.repeat(43)] },
      'x.test',
      key,
      version,
    );

  it('parses the text strictly for strict room versions; leniently for older ones', () => {
    const p = pdu();
    const text = JSON.stringify(p).replace('"n":1', '"n":1.0');
    const strict = checkPduFormat({ pdu: p, text }, v10);
    expect(strict.ok).toBe(false);
    const old = pdu(v5);
    const lenient = checkPduFormat({ pdu: old, text: JSON.stringify(old).replace('"n":1', '"n":1.0') }, v5);
    expect(lenient.ok).toBe(true);
  });

  it('keeps the received text when nothing is trimmed; checks the room and the expected ID', () => {
    const p = pdu();
    const text = JSON.stringify(p, null, 1);
    const ok = checkPduFormat({ pdu: p, text }, v10, { roomId: '!r:x.test', eventId: computeEventId(p, v10) });
    expect(ok).toMatchObject({ ok: true, jsonText: text, eventId: computeEventId(p, v10) });
    expect(checkPduFormat({ pdu: p, text }, v10, { roomId: '!other:x.test' }).ok).toBe(false);
    expect(checkPduFormat({ pdu: p, text }, v10, { roomId: '!r:x.test', eventId: '$else' }).ok).toBe(false);
  });
});

describe('visibleToServer', () => {
  it('shared and world_readable history is visible to any server in the room; joined and invited need a member', () => {
    expect(visibleToServer(undefined, [])).toBe(true);
    expect(visibleToServer('shared', [])).toBe(true);
    expect(visibleToServer('world_readable', ['leave'])).toBe(true);
    expect(visibleToServer('joined', ['leave', 'invite'])).toBe(false);
    expect(visibleToServer('joined', ['leave', 'join'])).toBe(true);
    expect(visibleToServer('invited', ['invite'])).toBe(true);
    expect(visibleToServer('invited', ['ban'])).toBe(false);
  });
});

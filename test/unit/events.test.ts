// Event hashing, event IDs, redaction, event signing, v12 room IDs and PDU format checks, against the
// spec's test vectors (test/fixtures/test-vectors.json) and table tests.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { signingKeyFromSeed } from '../../src/core/crypto/ed25519.js';
import { toRoomEvent } from '../../src/core/events/event.js';
import {
  addContentHash,
  checkContentHash,
  computeContentHash,
  computeEventId,
  computeReferenceHash,
} from '../../src/core/events/hashes.js';
import { MAX_PDU_BYTES, pduSizeBytes, validatePdu } from '../../src/core/events/pdu.js';
import { redactEvent, redactWithRules } from '../../src/core/events/redaction.js';
import { createEventIdOfRoom, roomIdFromCreateEvent, roomIdOfCreateEventId } from '../../src/core/events/room-id.js';
import { requireRoomVersion, supportedRoomVersions, type RedactionRules } from '../../src/core/events/room-versions.js';
import {
  hashAndSignEvent,
  requiredSignatureServers,
  signEvent,
  verifyEventSignature,
} from '../../src/core/events/signing.js';
import { canonicalJson } from '../../src/core/json/canonical.js';
import type { JsonObject } from '../../src/core/json/types.js';

interface Vector {
  name: string;
  category: string;
  source: string;
  input: any;
  expected: any;
  intermediate?: Record<string, string>;
  verified: any;
  known_divergence?: { synapse_prune_event: JsonObject; note: string };
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/test-vectors.json', import.meta.url), 'utf8')) as {
  about: { signing_key: { seed_base64: string; server_name: string; key_id: string; public_key_base64: string } };
  vectors: Vector[];
};
const vectors = (category: string): Vector[] => fixture.vectors.filter((v) => v.category === category);
const KEY = fixture.about.signing_key;
const signingKey = signingKeyFromSeed(KEY.key_id.slice('ed25519:'.length), KEY.seed_base64);

const ALL_VERSIONS = supportedRoomVersions().map((v) => v.id);
/** "4-10" -> ['4', ..., '10']; "3" -> ['3']. */
function versionRange(spec: string): string[] {
  const [a, b] = spec.split('-').map(Number) as [number, number | undefined];
  return ALL_VERSIONS.filter((v) => Number(v) >= a && Number(v) <= (b ?? a));
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
const clone = <T>(v: T): T => structuredClone(v);

describe('test vector coverage', () => {
  it('has the vector categories this file covers', () => {
    expect(vectors('redaction')).toHaveLength(55);
    expect(vectors('event_signing')).toHaveLength(4);
    expect(vectors('event_id')).toHaveLength(6);
    expect(vectors('room_id')).toHaveLength(1);
  });
});

describe('redaction vectors (every rule set, every room version)', () => {
  for (const v of vectors('redaction')) {
    const ruleSet = v.name.split('/').pop()!.replace('rules_', '') as RedactionRules;
    const tpiAmbiguity = v.known_divergence !== undefined;
    // README trap 4: with a third_party_invite lacking `signed`, we follow Synapse (keep `{}`).
    const expected = tpiAmbiguity ? v.known_divergence!.synapse_prune_event : v.expected;
    for (const rv of v.input.room_versions as string[]) {
      it(`${v.name} in room v${rv}${tpiAmbiguity ? ' (Synapse reading)' : ''}`, () => {
        const input = deepFreeze(clone(v.input.event));
        const version = requireRoomVersion(rv);
        expect(version.redactionRules).toBe(ruleSet);
        const out = redactEvent(input, version);
        expect(out).toEqual(expected);
        expect(canonicalJson(out)).toBe(canonicalJson(expected));
        expect(input).toEqual(v.input.event); // not mutated (and frozen, so a write would throw)
      });
    }
    it(`${v.name} by rule-set name`, () => {
      expect(redactWithRules(v.input.event, ruleSet)).toEqual(expected);
    });
  }

  it('the third_party_invite ambiguity differs from the literal reading only in that key', () => {
    const v = vectors('redaction').find((x) => x.known_divergence)!;
    const ours = redactWithRules(v.input.event, 'v11');
    const literal = v.expected as JsonObject;
    expect((ours.content as JsonObject).third_party_invite).toEqual({});
    const { third_party_invite: _drop, ...rest } = ours.content as JsonObject;
    expect({ ...ours, content: rest }).toEqual(literal);
  });

  it('keeps only `signed` of a v11 third_party_invite, and nothing of a non-object one', () => {
    const base = { type: 'm.room.member', state_key: '@v:x', content: { membership: 'invite' } };
    const withSigned = redactWithRules(
      { ...base, content: { membership: 'invite', third_party_invite: { display_name: 'd', signed: { mxid: '@v:x' } } } },
      'v11',
    );
    expect(withSigned.content).toEqual({ membership: 'invite', third_party_invite: { signed: { mxid: '@v:x' } } });
    const junk = redactWithRules({ ...base, content: { membership: 'invite', third_party_invite: ['x'] } }, 'v11');
    expect(junk.content).toEqual({ membership: 'invite' });
    for (const rules of ['v1', 'v6', 'v8', 'v9'] as const) {
      const r = redactWithRules({ ...base, content: { membership: 'invite', third_party_invite: { signed: {} } } }, rules);
      expect(r.content).toEqual({ membership: 'invite' });
    }
  });

  it('always yields a content object and drops unsigned', () => {
    const r = redactWithRules({ type: 'm.room.message', unsigned: { age: 1 }, content: 'junk' as unknown as JsonObject }, 'v1');
    expect(r).toEqual({ type: 'm.room.message', content: {} });
    expect(redactWithRules({ type: 'm.room.message' }, 'v11')).toEqual({ type: 'm.room.message', content: {} });
  });

  it('v11 keeps the whole create content as a copy, not the same object', () => {
    const content = { room_version: '11', 'm.federate': false, anything: { nested: 1 } };
    const pdu = { type: 'm.room.create', state_key: '', content };
    const r = redactEvent(pdu, requireRoomVersion('11'));
    expect(r.content).toEqual(content);
    expect(r.content).not.toBe(content);
  });

  it('v11 drops the top-level redacts and keeps content.redacts; v1-v10 drop both', () => {
    const pdu = { type: 'm.room.redaction', redacts: '$a', content: { redacts: '$a', reason: 'r' } };
    expect(redactEvent(pdu, requireRoomVersion('11'))).toEqual({ type: 'm.room.redaction', content: { redacts: '$a' } });
    expect(redactEvent(pdu, requireRoomVersion('10'))).toEqual({ type: 'm.room.redaction', content: {} });
  });
});

describe('content hash', () => {
  it('matches the spec examples, byte for byte on the hashed input', () => {
    for (const v of vectors('event_signing').filter((x) => x.source === 'spec')) {
      const event = deepFreeze(clone(v.input.event));
      expect(computeContentHash(event)).toBe(v.expected.hashes.sha256);
      const { unsigned: _u, signatures: _s, hashes: _h, ...covered } = v.input.event;
      expect(canonicalJson(covered)).toBe(v.intermediate!.content_hash_input);
    }
  });

  it('reproduces the content hash of a real federation event', () => {
    for (const v of vectors('event_id').filter((x) => x.source === 'external')) {
      expect(computeContentHash(v.input.event)).toBe(v.expected.content_hash);
      expect(checkContentHash(v.input.event)).toBe(true);
    }
  });

  it('ignores unsigned, signatures and existing hashes', () => {
    const e = { type: 'X', content: { a: 1 } };
    const h = computeContentHash(e);
    expect(computeContentHash({ ...e, unsigned: { age: 5 }, signatures: { s: {} }, hashes: { sha256: 'zz' } })).toBe(h);
    expect(computeContentHash({ ...e, content: { a: 2 } })).not.toBe(h);
  });

  it('addContentHash returns a new object, keeps other algorithms, and checkContentHash accepts it', () => {
    const e = deepFreeze({ type: 'X', content: {}, hashes: { sha512: 'other' } });
    const hashed = addContentHash(e);
    expect(hashed).not.toBe(e);
    expect(hashed.hashes).toEqual({ sha512: 'other', sha256: computeContentHash(e) });
    expect(checkContentHash(hashed)).toBe(true);
    expect(e.hashes).toEqual({ sha512: 'other' });
  });

  it('checkContentHash compares decoded bytes and rejects mismatches and junk', () => {
    const hashed = addContentHash({ type: 'X', content: { body: 'hi' } });
    const sha = (hashed.hashes as JsonObject).sha256 as string;
    expect(checkContentHash({ ...hashed, hashes: { sha256: sha + '=' } })).toBe(true); // padded form
    expect(checkContentHash({ ...hashed, content: { body: 'tampered' } })).toBe(false);
    expect(checkContentHash({ ...hashed, hashes: { sha256: 'not base64!' } })).toBe(false);
    expect(checkContentHash({ ...hashed, hashes: { sha256: 'AAAA' } })).toBe(false); // wrong length
    expect(checkContentHash({ ...hashed, hashes: {} })).toBe(false);
    expect(checkContentHash({ type: 'X', content: {} })).toBe(false);
  });
});

describe('reference hashes and event IDs', () => {
  for (const v of vectors('event_id')) {
    const versions = versionRange(v.input.room_version);
    for (const rv of versions) {
      it(`${v.name} in room v${rv}`, () => {
        const version = requireRoomVersion(rv);
        const event = deepFreeze(clone(v.input.event));
        if (v.expected.reference_hash_sha256_hex) {
          expect(computeReferenceHash(event, version).toString('hex')).toBe(v.expected.reference_hash_sha256_hex);
        }
        expect(computeEventId(event, version)).toBe(v.expected.event_id);
      });
    }
  }

  it('covers room versions 3 to 10 with the derived vectors', () => {
    const covered = new Set(vectors('event_id').flatMap((v) => versionRange(v.input.room_version)));
    expect([...covered].sort((a, b) => Number(a) - Number(b))).toEqual(['3', '4', '5', '6', '7', '8', '9', '10']);
  });

  it('does not depend on signatures, unsigned or redactable content', () => {
    const v10 = requireRoomVersion('10');
    const e = { type: 'm.room.message', sender: '@a:x', room_id: '!r:x', content: { body: 'a' }, hashes: { sha256: 'h' } };
    const id = computeEventId(e, v10);
    expect(computeEventId({ ...e, signatures: { x: { 'ed25519:1': 's' } }, unsigned: { age: 3 } }, v10)).toBe(id);
    expect(computeEventId({ ...e, content: { body: 'b' } }, v10)).toBe(id); // covered via hashes only
    expect(computeEventId({ ...e, hashes: { sha256: 'other' } }, v10)).not.toBe(id);
  });

  it('v11 reference hashes drop origin, so they differ from v10 for events that carry it', () => {
    const e = { type: 'X', sender: '@a:x', room_id: '!r:x', origin: 'x', content: {}, hashes: { sha256: 'h' } };
    const without = { ...e };
    delete (without as Partial<typeof e>).origin;
    expect(computeEventId(e, requireRoomVersion('11'))).toBe(computeEventId(without, requireRoomVersion('11')));
    expect(computeEventId(e, requireRoomVersion('10'))).not.toBe(computeEventId(without, requireRoomVersion('10')));
  });

  it('returns the carried event_id for room versions 1 and 2 and throws without one', () => {
    for (const rv of ['1', '2']) {
      expect(computeEventId({ event_id: '$abc:example.org', type: 'X' }, requireRoomVersion(rv))).toBe('$abc:example.org');
      expect(() => computeEventId({ type: 'X' }, requireRoomVersion(rv))).toThrow();
    }
  });

  it('v3 IDs use standard base64 and v4+ IDs the URL-safe alphabet', () => {
    const v = vectors('event_id').find((x) => x.name === 'event_id/derived/redactable_event/room_v3')!;
    const v3 = computeEventId(v.input.event, requireRoomVersion('3'));
    const v4 = computeEventId(v.input.event, requireRoomVersion('4'));
    expect(v3).toMatch(/^\$[A-Za-z0-9+/]{43}$/);
    expect(v4).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
    expect(v3.replace(/\+/g, '-').replace(/\//g, '_')).toBe(v4);
  });
});

describe('event signing vectors', () => {
  for (const v of vectors('event_signing')) {
    // Spec examples reproduce only under the v1-v10 rules (README trap 3); derived ones name theirs.
    const versions: string[] = v.input.room_versions ?? ALL_VERSIONS.filter((x) => Number(x) <= 10);
    for (const rv of versions) {
      it(`${v.name} in room v${rv}`, () => {
        const version = requireRoomVersion(rv);
        const input = deepFreeze(clone(v.input.event));
        const signed = hashAndSignEvent(input, v.input.server_name, signingKey, version);
        expect(signed).toEqual(v.expected);
        expect(signEvent(addContentHash(input), v.input.server_name, signingKey, version)).toEqual(v.expected);
        expect(input).toEqual(v.input.event);
        expect(verifyEventSignature(v.expected, v.input.server_name, v.input.key_id, KEY.public_key_base64, version)).toBe(true);
      });
    }
    if (v.intermediate?.redacted_signing_input_v1_rules) {
      it(`${v.name}: the signed bytes under the v1 rules`, () => {
        const redacted = redactWithRules(v.expected, 'v1');
        const { signatures: _s, unsigned: _u, ...covered } = redacted;
        expect(canonicalJson(covered)).toBe(v.intermediate!.redacted_signing_input_v1_rules);
      });
    }
  }

  it('spec signatures do not verify under the v11 rules, and v11 signatures not under v10', () => {
    const spec = vectors('event_signing').find((x) => x.name === 'event_signing/minimal_event')!;
    const derived = vectors('event_signing').find((x) => x.name === 'event_signing/derived_v11/minimal_event')!;
    const args = ['domain', 'ed25519:1', KEY.public_key_base64] as const;
    expect(verifyEventSignature(spec.expected, ...args, requireRoomVersion('11'))).toBe(false);
    expect(verifyEventSignature(derived.expected, ...args, requireRoomVersion('10'))).toBe(false);
  });
});

describe('verifyEventSignature', () => {
  const v10 = requireRoomVersion('10');
  const v = vectors('event_signing').find((x) => x.name === 'event_signing/redactable_event')!;
  const signed = v.expected as JsonObject;
  const pk = KEY.public_key_base64;

  it('still verifies a redacted copy, and a copy with other unprotected content', () => {
    expect(verifyEventSignature(redactEvent(signed, v10), 'domain', 'ed25519:1', pk, v10)).toBe(true);
    const changedBody = { ...signed, content: { body: 'changed' } };
    expect(verifyEventSignature(changedBody, 'domain', 'ed25519:1', pk, v10)).toBe(true);
    expect(checkContentHash(changedBody)).toBe(false); // ...which the hash check catches
  });

  it('fails on protected changes, unknown servers or keys, and wrong public keys', () => {
    expect(verifyEventSignature({ ...signed, sender: '@x:domain' }, 'domain', 'ed25519:1', pk, v10)).toBe(false);
    expect(verifyEventSignature({ ...signed, hashes: { sha256: 'AAAA' } }, 'domain', 'ed25519:1', pk, v10)).toBe(false);
    expect(verifyEventSignature(signed, 'other', 'ed25519:1', pk, v10)).toBe(false);
    expect(verifyEventSignature(signed, 'domain', 'ed25519:2', pk, v10)).toBe(false);
    expect(verifyEventSignature(signed, 'domain', 'ed25519:1', signingKeyFromSeed('x', Buffer.alloc(32)).publicKey, v10)).toBe(false);
    expect(verifyEventSignature({ ...signed, signatures: 'junk' } as unknown as JsonObject, 'domain', 'ed25519:1', pk, v10)).toBe(false);
  });

  it('signEvent keeps other servers signatures and adds ours', () => {
    const other = signingKeyFromSeed('2', Buffer.alloc(32, 7));
    const once = hashAndSignEvent({ type: 'X', sender: '@a:one', content: {}, room_id: '!r:one' }, 'one', signingKey, v10);
    const twice = signEvent(once, 'two', other, v10);
    expect(Object.keys(twice.signatures as JsonObject).sort()).toEqual(['one', 'two']);
    expect(verifyEventSignature(twice, 'one', signingKey.keyId, signingKey.publicKey, v10)).toBe(true);
    expect(verifyEventSignature(twice, 'two', other.keyId, other.publicKey, v10)).toBe(true);
    expect(Object.keys(once.signatures as JsonObject)).toEqual(['one']); // not mutated
  });
});

describe('requiredSignatureServers', () => {
  const base = { room_id: '!r:room.example', content: {} };
  const cases: [string, string, JsonObject, string[]][] = [
    ['sender only (v3+)', '10', { ...base, type: 'm.room.message', sender: '@a:s.example' }, ['s.example']],
    ['port kept', '10', { ...base, type: 'X', sender: '@a:localhost:8448' }, ['localhost:8448']],
    ['v1: event ID server too', '1', { ...base, type: 'X', sender: '@a:s.example', event_id: '$e:e.example' }, ['s.example', 'e.example']],
    ['v2: same server once', '2', { ...base, type: 'X', sender: '@a:s.example', event_id: '$e:s.example' }, ['s.example']],
    ['v3: event_id ignored', '3', { ...base, type: 'X', sender: '@a:s.example', event_id: '$e:e.example' }, ['s.example']],
    [
      'third-party invite: sender exempt',
      '10',
      { ...base, type: 'm.room.member', sender: '@a:s.example', state_key: '@b:t.example', content: { membership: 'invite', third_party_invite: { signed: {} } } },
      [],
    ],
    [
      'ordinary invite: sender',
      '10',
      { ...base, type: 'm.room.member', sender: '@a:s.example', state_key: '@b:t.example', content: { membership: 'invite' } },
      ['s.example'],
    ],
    [
      'restricted join: authorising server too',
      '8',
      { ...base, type: 'm.room.member', sender: '@b:t.example', state_key: '@b:t.example', content: { membership: 'join', join_authorised_via_users_server: '@admin:a.example' } },
      ['t.example', 'a.example'],
    ],
    [
      'join_authorised_via_users_server before v8: ignored',
      '7',
      { ...base, type: 'm.room.member', sender: '@b:t.example', state_key: '@b:t.example', content: { membership: 'join', join_authorised_via_users_server: '@admin:a.example' } },
      ['t.example'],
    ],
    [
      'join_authorised_via_users_server on a leave: ignored',
      '10',
      { ...base, type: 'm.room.member', sender: '@b:t.example', state_key: '@b:t.example', content: { membership: 'leave', join_authorised_via_users_server: '@admin:a.example' } },
      ['t.example'],
    ],
    ['v12 create', '12', { type: 'm.room.create', state_key: '', sender: '@c:s.example', content: {} }, ['s.example']],
  ];
  for (const [name, rv, pdu, expected] of cases) {
    it(name, () => expect(requiredSignatureServers(pdu, requireRoomVersion(rv))).toEqual(expected));
  }
});

describe('v12 room IDs', () => {
  const [v] = vectors('room_id');
  const v12 = requireRoomVersion('12');

  it('hashes and signs the create event as the vector does, and derives its event and room IDs', () => {
    const signed = hashAndSignEvent(deepFreeze(clone(v!.input.unsigned_create_event)), 'domain', signingKey, v12);
    expect(signed).toEqual(v!.expected.signed_event);
    expect(computeEventId(signed, v12)).toBe(v!.expected.event_id);
    expect(roomIdFromCreateEvent(signed, v12)).toBe(v!.expected.room_id);
    expect(verifyEventSignature(signed, 'domain', 'ed25519:1', KEY.public_key_base64, v12)).toBe(true);
    expect(toRoomEvent(signed, v!.expected.event_id, v12).roomId).toBe(v!.expected.room_id);
  });

  it('converts between the create event ID and the room ID', () => {
    expect(roomIdOfCreateEventId(v!.expected.event_id)).toBe(v!.expected.room_id);
    expect(createEventIdOfRoom(v!.expected.room_id)).toBe(v!.expected.event_id);
    expect(() => createEventIdOfRoom('!old:example.org')).toThrow();
    expect(() => roomIdOfCreateEventId('$old:example.org')).toThrow();
  });

  it('refuses older room versions and non-create events', () => {
    expect(() => roomIdFromCreateEvent(v!.expected.signed_event, requireRoomVersion('11'))).toThrow();
    expect(() => roomIdFromCreateEvent({ ...v!.expected.signed_event, type: 'm.room.name' }, v12)).toThrow();
  });
});

describe('validatePdu', () => {
  const sig = { 'example.org': { 'ed25519:1': 'sig' } };
  const H1 = '$' + 'A'.repeat(43);
  const H2 = '$' + 'B'.repeat(42) + 'c';
  /** A well-formed PDU of the given room version's format. */
  function pdu(rv: string, extra: Record<string, unknown> = {}): JsonObject {
    const version = requireRoomVersion(rv);
    const refs = version.eventRefsArePairs
      ? { prev_events: [['$p:example.org', { sha256: 'h' }]], auth_events: [['$a:example.org', { sha256: 'h' }]] }
      : { prev_events: [H1], auth_events: [H2] };
    const out: Record<string, unknown> = {
      room_id: version.roomIdFromCreateEvent ? '!' + 'R'.repeat(43) : '!room:example.org',
      sender: '@alice:example.org',
      origin_server_ts: 1_700_000_000_000,
      type: 'm.room.message',
      content: { body: 'hello', msgtype: 'm.text' },
      depth: 12,
      hashes: { sha256: 'thishash' },
      signatures: sig,
      unsigned: { age: 4 },
      ...refs,
      ...(version.eventIdFormat === 'v1' ? { event_id: '$ev:example.org' } : {}),
      ...extra,
    };
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    return out as JsonObject;
  }
  const check = (rv: string, j: unknown) => validatePdu(j, requireRoomVersion(rv));
  const bad = (rv: string, j: unknown, msg: RegExp) => {
    const r = check(rv, j);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(msg);
  };

  it('accepts a well-formed PDU of every room version', () => {
    for (const rv of ALL_VERSIONS) expect(check(rv, pdu(rv))).toEqual({ ok: true });
  });

  it('never modifies the input (frozen input, same canonical JSON after)', () => {
    for (const rv of ALL_VERSIONS) {
      const j = deepFreeze(pdu(rv, { content: { a: [1, { b: 'c' }] }, extra_key: { kept: true } }));
      const before = canonicalJson(j);
      expect(check(rv, j).ok).toBe(true);
      expect(canonicalJson(j)).toBe(before);
    }
  });

  it('rejects non-objects', () => {
    for (const j of [null, [], 'x', 3, undefined]) bad('10', j, /not a JSON object/);
  });

  it('rejects missing or mistyped required keys', () => {
    for (const key of ['sender', 'type', 'content', 'depth', 'hashes', 'signatures', 'origin_server_ts', 'prev_events', 'auth_events', 'room_id']) {
      bad('10', pdu('10', { [key]: undefined }), new RegExp(key));
    }
    bad('10', pdu('10', { type: 5 }), /type/);
    bad('10', pdu('10', { content: [] }), /content/);
    bad('10', pdu('10', { content: 'x' }), /content/);
    bad('10', pdu('10', { state_key: 5 }), /state_key/);
    bad('10', pdu('10', { hashes: {} }), /hashes\.sha256/);
    bad('10', pdu('10', { hashes: { sha256: 1 } }), /hashes\.sha256/);
    bad('10', pdu('10', { signatures: { x: 'y' } }), /signatures/);
    bad('10', pdu('10', { signatures: { x: { k: 1 } } }), /signatures/);
    bad('10', pdu('10', { unsigned: 'x' }), /unsigned/);
    bad('10', pdu('10', { origin_server_ts: '1' }), /origin_server_ts/);
    bad('10', pdu('10', { redacts: 5 }), /redacts/);
    bad('10', pdu('10', { sender: 'alice' }), /sender/);
    bad('10', pdu('10', { room_id: 'room' }), /room_id/);
  });

  it('checks depth: integer in 0..2^53-1', () => {
    bad('10', pdu('10', { depth: -1 }), /depth/);
    bad('10', pdu('10', { depth: '1' }), /depth/);
    bad('5', pdu('5', { depth: 1.5 }), /depth/);
    bad('5', pdu('5', { depth: 2 ** 60 }), /depth/);
    expect(check('10', pdu('10', { depth: 0 })).ok).toBe(true);
    expect(check('10', pdu('10', { depth: Number.MAX_SAFE_INTEGER })).ok).toBe(true);
  });

  it('requires event_id in v1/v2 and checks its form', () => {
    bad('1', pdu('1', { event_id: undefined }), /event_id/);
    bad('2', pdu('2', { event_id: 'nosigil' }), /event_id/);
    expect(check('3', pdu('3')).ok).toBe(true); // v3+ carries none
  });

  it('checks the prev_events/auth_events shape per version', () => {
    bad('1', pdu('1', { prev_events: ['$p:example.org'] }), /pairs/); // v1 needs pairs
    bad('1', pdu('1', { auth_events: [['$a:example.org']] }), /pairs/);
    bad('2', pdu('2', { prev_events: [['$p:example.org', {}]] }), /sha256/);
    bad('3', pdu('3', { prev_events: [[H1, { sha256: 'h' }]] }), /event ID/); // v3 needs bare IDs
    bad('10', pdu('10', { prev_events: [H1.replace('A', '+')] }), /not an event ID/); // v4+ is URL-safe
    expect(check('3', pdu('3', { prev_events: ['$' + 'a+/'.repeat(14) + 'A'] })).ok).toBe(true);
    bad('10', pdu('10', { auth_events: ['$x:example.org'] }), /not an event ID/);
    bad('10', pdu('10', { prev_events: 'x' }), /prev_events/);
    bad('10', pdu('10', { auth_events: [5] }), /auth_events/);
  });

  it('limits prev_events to 20 and auth_events to 10', () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => '$' + String(i).padStart(43, 'x'));
    expect(check('10', pdu('10', { prev_events: ids(20), auth_events: ids(10) })).ok).toBe(true);
    bad('10', pdu('10', { prev_events: ids(21) }), /prev_events has 21/);
    bad('10', pdu('10', { auth_events: ids(11) }), /auth_events has 11/);
    const pairs = (n: number) => Array.from({ length: n }, (_, i) => [`$${i}:example.org`, { sha256: 'h' }]);
    bad('1', pdu('1', { prev_events: pairs(21) }), /prev_events has 21/);
  });

  it('room_id may be absent only on a v12 create event', () => {
    const create = { type: 'm.room.create', state_key: '', content: { room_version: '12' }, prev_events: [], auth_events: [] };
    expect(check('12', pdu('12', { ...create, room_id: undefined })).ok).toBe(true);
    bad('12', pdu('12', { room_id: undefined }), /room_id is missing/);
    bad('12', pdu('12', { ...create, state_key: 'x', room_id: undefined }), /room_id is missing/);
    bad('11', pdu('11', { ...create, room_id: undefined }), /room_id is missing/);
    bad('12', pdu('12', { room_id: '!old:example.org' }), /room ID of room version 12/);
    bad('11', pdu('11', { room_id: '!' + 'R'.repeat(43) }), /room ID of room version 11/);
  });

  it('rejects a PDU over 65536 bytes of canonical JSON (signatures included)', () => {
    const base = pdu('10', { content: { body: '' } });
    const room = MAX_PDU_BYTES - pduSizeBytes(base);
    const fits = pdu('10', { content: { body: 'x'.repeat(room) } });
    expect(pduSizeBytes(fits)).toBe(MAX_PDU_BYTES);
    expect(check('10', fits).ok).toBe(true);
    bad('10', pdu('10', { content: { body: 'x'.repeat(room + 1) } }), /65536/);
    // A multi-byte character counts its UTF-8 bytes.
    bad('10', pdu('10', { content: { body: 'x'.repeat(room - 1) + 'é' } }), /65536/);
    // Signatures count too.
    const bigSigs = { ...sig, other: { 'ed25519:1': 'x'.repeat(room) } };
    bad('10', pdu('10', { content: { body: '' }, signatures: bigSigs }), /65536/);
  });

  it('pduSizeBytes equals the canonical JSON byte length', () => {
    const j = pdu('10', { content: { z: 'ü\u2028\n\u0001"\\/😀', a: [1, -0, { b: null, c: true }], ['ключ']: 1 } });
    expect(pduSizeBytes(j)).toBe(Buffer.byteLength(canonicalJson(j), 'utf8'));
  });

  it('limits sender, room_id, type, state_key and event_id to 255 UTF-8 bytes', () => {
    const long = (n: number) => 'a'.repeat(n);
    bad('10', pdu('10', { sender: `@${long(255 - '@:example.org'.length + 1)}:example.org` }), /sender is longer than 255 bytes/);
    expect(check('10', pdu('10', { sender: `@${long(255 - '@:example.org'.length)}:example.org` })).ok).toBe(true);
    bad('10', pdu('10', { type: long(256) }), /type/);
    expect(check('10', pdu('10', { type: long(255) })).ok).toBe(true);
    bad('10', pdu('10', { state_key: long(256) }), /state_key/);
    // 128 two-byte characters: 128 UTF-16 units but 256 bytes.
    bad('10', pdu('10', { state_key: 'é'.repeat(128) }), /state_key is longer than 255 bytes/);
    expect(check('10', pdu('10', { state_key: 'é'.repeat(127) })).ok).toBe(true);
    bad('10', pdu('10', { room_id: `!${long(250)}:example.org` }), /room_id/);
    bad('1', pdu('1', { event_id: `$${long(250)}:example.org` }), /event_id/);
  });

  it('rejects floats and out-of-range integers anywhere in v6+, allows them in v1-v5', () => {
    const floaty = { content: { body: 'x', nested: [{ score: 1.5 }] } };
    const huge = { content: { n: 2 ** 60 } };
    for (const rv of ['6', '7', '8', '9', '10', '11', '12']) {
      bad(rv, pdu(rv, floaty), /1\.5 is not an integer/);
      bad(rv, pdu(rv, huge), /not an integer within/);
      bad(rv, pdu(rv, { unsigned: { age: 0.5 } }), /not an integer/); // unsigned is part of the PDU
    }
    for (const rv of ['1', '2', '3', '4', '5']) {
      expect(check(rv, pdu(rv, floaty)).ok).toBe(true);
      expect(check(rv, pdu(rv, huge)).ok).toBe(true);
    }
    bad('5', pdu('5', { content: { n: Number.NaN } }), /not finite/);
    expect(check('10', pdu('10', { content: { n: -Number.MAX_SAFE_INTEGER } })).ok).toBe(true);
  });

  it('rejects lone surrogates in strings and keys', () => {
    bad('10', pdu('10', { content: { body: 'a\ud800b' } }), /lone surrogate/);
    bad('5', pdu('5', { content: { ['k\udc00']: 1 } }), /lone surrogate/);
    expect(check('10', pdu('10', { content: { body: '😀' } })).ok).toBe(true);
  });

  it('rejects non-JSON values built in code', () => {
    bad('10', pdu('10', { content: { f: () => 1 } }), /not JSON/);
  });
});

// Tests of third-party invites in the auth rules (v1 rule 5.3.1 and its later numbers) with real
// Ed25519 signatures made by a throwaway identity-server key.

import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { signJson } from '../../src/core/crypto/signing.js';
import { ALICE, ALL_VERSIONS, CAROL, DAVE, EVE, TestRoom, expectRule, standardRoom } from './auth-helpers.js';

const isKey = generateSigningKey('0');
const otherKey = generateSigningKey('1');
// A key whose base64 has + or /, to check the URL-safe spelling of it is accepted too.
let plusSlashKey = generateSigningKey('2');
while (!/[+/]/.test(plusSlashKey.publicKey)) plusSlashKey = generateSigningKey('2');
const toUrlSafe = (s: string): string => s.replace(/\+/g, '-').replace(/\//g, '_');

function signedBlob(mxid = DAVE, token = 'tok', key = isKey): JsonObject {
  return signJson({ mxid, token, sender: CAROL }, 'id.example', key);
}

function inviteEventContent(over: JsonObject = {}): JsonObject {
  return {
    display_name: 'd...@example.org',
    key_validity_url: 'https://id.example/_matrix/identity/v2/pubkey/isvalid',
    public_key: isKey.publicKey,
    public_keys: [{ public_key: isKey.publicKey, key_validity_url: 'https://id.example/x' }],
    ...over,
  };
}

interface Row {
  name: string;
  /** Content of the m.room.third_party_invite event (state_key "tok", sent by carol). null: none. */
  inviteContent?: JsonObject | null;
  inviteSender?: string;
  /** third_party_invite of the member event. */
  tpi: () => JsonObject | null | string;
  sender?: string;
  target?: string;
  setup?: (r: TestRoom) => void;
  expect: string;
}

const rows: Row[] = [
  { name: 'valid signature, key in public_key', tpi: () => ({ display_name: 'd', signed: signedBlob() }), expect: 'allow' },
  {
    name: 'valid signature, key only in public_keys',
    inviteContent: { public_keys: [{ public_key: isKey.publicKey }] },
    tpi: () => ({ display_name: 'd', signed: signedBlob() }),
    expect: 'allow',
  },
  {
    name: 'valid signature, second of several public_keys',
    inviteContent: { public_key: otherKey.publicKey, public_keys: [{ public_key: otherKey.publicKey }, { public_key: isKey.publicKey }] },
    tpi: () => ({ signed: signedBlob() }),
    expect: 'allow',
  },
  {
    name: 'valid signature, public key published in URL-safe base64',
    inviteContent: { public_key: toUrlSafe(plusSlashKey.publicKey), public_keys: [] },
    tpi: () => ({ signed: signedBlob(DAVE, 'tok', plusSlashKey) }),
    expect: 'allow',
  },
  {
    name: 'signed by a key the invite does not publish',
    tpi: () => ({ signed: signedBlob(DAVE, 'tok', otherKey) }),
    expect: 'member.invite.3pid.signature',
  },
  {
    name: 'signed blob altered after signing',
    tpi: () => ({ signed: { ...signedBlob(EVE), mxid: DAVE } }),
    expect: 'member.invite.3pid.signature',
  },
  {
    name: 'signature under a non-ed25519 key ID only',
    tpi: () => {
      const s = signedBlob();
      const sig = ((s.signatures as JsonObject)['id.example'] as JsonObject)['ed25519:0'] as string;
      return { signed: { ...s, signatures: { 'id.example': { 'curve25519:0': sig } } } };
    },
    expect: 'member.invite.3pid.signature',
  },
  {
    name: 'garbage signature',
    tpi: () => ({ signed: { ...signedBlob(), signatures: { 'id.example': { 'ed25519:0': 'not base64!' } } } }),
    expect: 'member.invite.3pid.signature',
  },
  {
    name: 'no signatures at all',
    tpi: () => ({ signed: { mxid: DAVE, token: 'tok' } }),
    expect: 'member.invite.3pid.signature',
  },
  {
    name: 'the invite event publishes no keys',
    inviteContent: { public_key: undefined as never, public_keys: undefined as never },
    tpi: () => ({ signed: signedBlob() }),
    expect: 'member.invite.3pid.signature',
  },
  { name: 'no signed property', tpi: () => ({ display_name: 'd' }), expect: 'member.invite.3pid.no_signed' },
  { name: 'third_party_invite is null', tpi: () => null, expect: 'member.invite.3pid.no_signed' },
  { name: 'third_party_invite is a string', tpi: () => 'x', expect: 'member.invite.3pid.no_signed' },
  { name: 'signed has no token', tpi: () => ({ signed: signJson({ mxid: DAVE }, 'id.example', isKey) }), expect: 'member.invite.3pid.no_mxid_token' },
  { name: 'signed has no mxid', tpi: () => ({ signed: signJson({ token: 'tok' }, 'id.example', isKey) }), expect: 'member.invite.3pid.no_mxid_token' },
  { name: 'mxid is not the state_key', tpi: () => ({ signed: signedBlob(EVE) }), expect: 'member.invite.3pid.mxid_mismatch' },
  { name: 'no m.room.third_party_invite for the token', tpi: () => ({ signed: signedBlob(DAVE, 'other') }), expect: 'member.invite.3pid.no_invite_event' },
  {
    name: 'no m.room.third_party_invite in the room at all',
    inviteContent: null,
    tpi: () => ({ signed: signedBlob() }),
    expect: 'member.invite.3pid.no_invite_event',
  },
  {
    name: 'sender did not send the m.room.third_party_invite',
    sender: ALICE,
    tpi: () => ({ signed: signedBlob() }),
    expect: 'member.invite.3pid.sender_mismatch',
  },
  {
    name: 'target banned',
    setup: (r) => {
      r.member(DAVE, 'ban', ALICE);
    },
    tpi: () => ({ signed: signedBlob() }),
    expect: 'member.invite.3pid.target_banned',
  },
  {
    name: 'a valid third-party invite does not need the sender to be joined any more',
    setup: (r) => {
      r.member(CAROL, 'leave');
    },
    tpi: () => ({ signed: signedBlob() }),
    expect: 'allow',
  },
];

const cases = rows.flatMap((row) => ALL_VERSIONS.map((v) => ({ ...row, v, label: `v${v}: ${row.name}` })));

describe('third-party invites', () => {
  it.each(cases)('$label', (row) => {
    const r = standardRoom(row.v);
    if (row.inviteContent !== null) {
      const content = inviteEventContent(row.inviteContent ?? {});
      for (const k of Object.keys(content)) if (content[k] === undefined) delete content[k];
      r.put({ type: 'm.room.third_party_invite', sender: row.inviteSender ?? CAROL, state_key: 'tok', content });
    }
    row.setup?.(r);
    const tpi = row.tpi();
    const ev = r.event({
      type: 'm.room.member',
      sender: row.sender ?? CAROL,
      state_key: row.target ?? DAVE,
      content: { membership: 'invite', third_party_invite: tpi },
    });
    expect(expectRule(r.check(ev))).toBe(row.expect);
  });
});

// POST /keys/device_signing/upload (UIA rules of spec v1.11/MSC3967, key checks) and
// POST /keys/signatures/upload (Synapse's validation rules), with the signatures served back by
// /keys/query to exactly the users allowed to see them.
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import type { JsonObject } from '../../src/core/json/types.js';
import {
  crossSigningKey,
  deviceKeysOf,
  e2eeHarness,
  signAs,
  V3,
  type CrossSigning,
  type Device,
  type E2eeHarness,
} from './e2ee-harness.js';

const harnesses: E2eeHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
async function setup(): Promise<E2eeHarness> {
  const h = await e2eeHarness();
  harnesses.push(h);
  return h;
}

function uploadSigning(h: E2eeHarness, d: Device, body: JsonObject, prefix = V3) {
  return h.req('POST', `${prefix}/keys/device_signing/upload`, { token: d.access_token, body });
}
function uploadSignatures(h: E2eeHarness, d: Device, body: JsonObject) {
  return h.req('POST', `${V3}/keys/signatures/upload`, { token: d.access_token, body });
}
function query(h: E2eeHarness, d: Device, users: string[]) {
  return h.req('POST', `${V3}/keys/query`, { token: d.access_token, body: { device_keys: Object.fromEntries(users.map((u) => [u, []])) } });
}
const passwordAuth = (d: Device, session: string, password = 'pw') => ({
  type: 'm.login.password',
  identifier: { type: 'm.id.user', user: d.user_id },
  password,
  session,
});

describe('POST /keys/device_signing/upload', () => {
  it('first upload needs no UIA (also under /unstable); keys are served to the right users', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const master = generateSigningKey();
    const ssk = generateSigningKey();
    const usk = generateSigningKey();
    const body = {
      master_key: crossSigningKey(alice.user_id, 'master', master),
      self_signing_key: crossSigningKey(alice.user_id, 'self_signing', ssk, master),
      user_signing_key: crossSigningKey(alice.user_id, 'user_signing', usk, master),
    };
    const r = await uploadSigning(h, alice, body, '/_matrix/client/unstable');
    expect([r.status, r.body]).toEqual([200, {}]);

    const own = await query(h, alice, [alice.user_id]);
    expect(own.body.master_keys).toEqual({ [alice.user_id]: body.master_key });
    expect(own.body.self_signing_keys).toEqual({ [alice.user_id]: body.self_signing_key });
    expect(own.body.user_signing_keys).toEqual({ [alice.user_id]: body.user_signing_key });
    // Others never see the user-signing key.
    const other = await query(h, bob, [alice.user_id]);
    expect(other.body.master_keys).toEqual({ [alice.user_id]: body.master_key });
    expect(other.body.self_signing_keys).toEqual({ [alice.user_id]: body.self_signing_key });
    expect(other.body.user_signing_keys).toBeUndefined();

    // The same keys again: 200 without UIA, and nothing changes.
    const since = h.e2ee.deviceKeys.position();
    const again = await uploadSigning(h, alice, body);
    expect([again.status, again.body]).toEqual([200, {}]);
    expect(h.e2ee.deviceKeys.position()).toBe(since);
  });

  it('replacing keys requires UIA bound to the uploaded keys', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    await h.setupCrossSigning(alice);
    const master2 = generateSigningKey();
    const body = { master_key: crossSigningKey(alice.user_id, 'master', master2) };
    const challenge = await uploadSigning(h, alice, body);
    expect(challenge.status).toBe(401);
    expect(challenge.body.flows).toEqual([{ stages: ['m.login.password'] }]);
    const session = challenge.body.session as string;

    const wrong = await uploadSigning(h, alice, { ...body, auth: passwordAuth(alice, session, 'bad') });
    expect([wrong.status, wrong.body.errcode]).toEqual([401, 'M_FORBIDDEN']);
    // The session cannot be used for other keys than it was started for.
    const other = await uploadSigning(h, alice, { master_key: crossSigningKey(alice.user_id, 'master', generateSigningKey()), auth: passwordAuth(alice, session) });
    expect([other.status, other.body.errcode]).toEqual([403, 'M_FORBIDDEN']);

    const ok = await uploadSigning(h, alice, { ...body, auth: passwordAuth(alice, session) });
    expect([ok.status, ok.body]).toEqual([200, {}]);
    const q = await query(h, alice, [alice.user_id]);
    expect(q.body.master_keys[alice.user_id]).toEqual(body.master_key);
  });

  it('checks the keys: owner, usage, one ed25519 key, signatures by the master key, device ID collisions', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    const master = generateSigningKey();
    const ssk = generateSigningKey();
    const cases: [JsonObject, number, string][] = [
      [{ master_key: crossSigningKey(bob.user_id, 'master', master) }, 400, 'M_INVALID_PARAM'],
      [{ master_key: crossSigningKey(alice.user_id, 'self_signing', master) }, 400, 'M_INVALID_PARAM'],
      [{ master_key: { user_id: alice.user_id, usage: ['master'], keys: { 'ed25519:abc': 'def' } } }, 400, 'M_INVALID_PARAM'],
      [{ master_key: { user_id: alice.user_id, usage: ['master'], keys: {} } }, 400, 'M_INVALID_PARAM'],
      // A self-signing key without any master key, uploaded or stored.
      [{ self_signing_key: crossSigningKey(alice.user_id, 'self_signing', ssk, master) }, 400, 'M_MISSING_PARAM'],
      // Signed by another key than the master key, or not signed.
      [{ master_key: crossSigningKey(alice.user_id, 'master', master), self_signing_key: crossSigningKey(alice.user_id, 'self_signing', ssk, ssk) }, 400, 'M_INVALID_SIGNATURE'],
      [{ master_key: crossSigningKey(alice.user_id, 'master', master), user_signing_key: crossSigningKey(alice.user_id, 'user_signing', ssk) }, 400, 'M_INVALID_SIGNATURE'],
    ];
    for (const [body, status, errcode] of cases) {
      const r = await uploadSigning(h, alice, body);
      expect([r.status, r.body.errcode]).toEqual([status, errcode]);
    }
    // "The public key of one of the keys is the same as one of the user's device IDs": 403.
    const colliding = generateSigningKey();
    await h.login('alice', 'pw', colliding.publicKey);
    const r = await uploadSigning(h, alice, { master_key: crossSigningKey(alice.user_id, 'master', colliding) });
    expect([r.status, r.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const q = await query(h, alice, [alice.user_id]);
    expect(q.body.master_keys).toBeUndefined();
  });

  it('tells users sharing a room about master/self-signing keys, and only the owner about the user-signing key', async () => {
    const h = await setup();
    const alice = await h.device('alice');
    const bob = await h.device('bob');
    await h.sharedRoom(alice.user_id, bob.user_id);
    let since = h.e2ee.deviceKeys.position();
    const cs = await h.setupCrossSigning(alice);
    expect(h.e2ee.deviceKeys.deviceListChanges(bob.user_id, since, h.e2ee.deviceKeys.position()).changed).toEqual([alice.user_id]);

    since = h.e2ee.deviceKeys.position();
    const challenge = await uploadSigning(h, alice, { user_signing_key: crossSigningKey(alice.user_id, 'user_signing', generateSigningKey(), cs.master) });
    const ok = await uploadSigning(h, alice, {
      user_signing_key: crossSigningKey(alice.user_id, 'user_signing', generateSigningKey(), cs.master),
      auth: passwordAuth(alice, challenge.body.session),
    });
    // The session was started for another key object: refused; then a fresh session with the same keys works.
    expect([ok.status, ok.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    const usk = crossSigningKey(alice.user_id, 'user_signing', generateSigningKey(), cs.master);
    const c2 = await uploadSigning(h, alice, { user_signing_key: usk });
    const ok2 = await uploadSigning(h, alice, { user_signing_key: usk, auth: passwordAuth(alice, c2.body.session) });
    expect(ok2.status).toBe(200);
    const upTo = h.e2ee.deviceKeys.position();
    expect(h.e2ee.deviceKeys.deviceListChanges(bob.user_id, since, upTo).changed).toEqual([]);
    expect(h.e2ee.deviceKeys.deviceListChanges(alice.user_id, since, upTo).changed).toEqual([alice.user_id]);
  });
});

describe('POST /keys/signatures/upload', () => {
  async function signedUpAlice(h: E2eeHarness): Promise<{ alice: Device; cs: CrossSigning }> {
    const alice = await h.device('alice');
    await h.uploadDeviceKeys(alice);
    const cs = await h.setupCrossSigning(alice);
    return { alice, cs };
  }

  it('stores a device signature by the self-signing key and serves it with the device keys', async () => {
    const h = await setup();
    const { alice, cs } = await signedUpAlice(h);
    const bob = await h.device('bob');
    await h.sharedRoom(alice.user_id, bob.user_id);
    const since = h.e2ee.deviceKeys.position();
    const sskId = `ed25519:${cs.selfSigning.publicKey}`;
    const signed = signAs(deviceKeysOf(alice), alice.user_id, sskId, cs.selfSigning);
    const r = await uploadSignatures(h, alice, { [alice.user_id]: { [alice.device_id]: signed } });
    expect([r.status, r.body]).toEqual([200, { failures: {} }]);
    const q = await query(h, bob, [alice.user_id]);
    const dev = q.body.device_keys[alice.user_id][alice.device_id];
    expect(dev.signatures[alice.user_id][sskId]).toBe((signed.signatures as any)[alice.user_id][sskId]);
    expect(dev.signatures[alice.user_id][`ed25519:${alice.device_id}`]).toBeDefined();
    expect(h.e2ee.deviceKeys.deviceListChanges(bob.user_id, since, h.e2ee.deviceKeys.position()).changed).toEqual([alice.user_id]);
  });

  it('stores the master key signed by a device, visible to other users', async () => {
    const h = await setup();
    const { alice, cs } = await signedUpAlice(h);
    const bob = await h.device('bob');
    const signed = signAs(cs.masterKey, alice.user_id, `ed25519:${alice.device_id}`, alice.key);
    const r = await uploadSignatures(h, alice, { [alice.user_id]: { [cs.master.publicKey]: signed } });
    expect(r.body).toEqual({ failures: {} });
    const q = await query(h, bob, [alice.user_id]);
    expect(q.body.master_keys[alice.user_id].signatures[alice.user_id][`ed25519:${alice.device_id}`]).toBe(
      (signed.signatures as any)[alice.user_id][`ed25519:${alice.device_id}`],
    );
  });

  it('reports invalid signatures, unknown devices and altered keys as failures, storing nothing for them', async () => {
    const h = await setup();
    const { alice, cs } = await signedUpAlice(h);
    const sskId = `ed25519:${cs.selfSigning.publicKey}`;
    const wrongKey = signAs(deviceKeysOf(alice), alice.user_id, sskId, generateSigningKey());
    const altered = signAs({ ...deviceKeysOf(alice), algorithms: ['other'] }, alice.user_id, sskId, cs.selfSigning);
    const unknown = signAs({ ...deviceKeysOf(alice), device_id: 'NOPE' }, alice.user_id, sskId, cs.selfSigning);
    const noSig = deviceKeysOf(alice);
    const masterByStranger = signAs(cs.masterKey, alice.user_id, 'ed25519:NOTADEVICE', generateSigningKey());
    const r = await uploadSignatures(h, alice, {
      [alice.user_id]: { [alice.device_id]: wrongKey, OTHER: altered, NOPE: unknown, [cs.master.publicKey]: masterByStranger },
    });
    expect(r.status).toBe(200);
    const f = r.body.failures[alice.user_id];
    expect(f[alice.device_id].errcode).toBe('M_INVALID_SIGNATURE');
    expect(f.OTHER.errcode).toBe('M_NOT_FOUND');
    expect(f.NOPE.errcode).toBe('M_NOT_FOUND');
    expect(f[cs.master.publicKey].errcode).toBe('M_INVALID_SIGNATURE');
    // A stored device whose uploaded copy differs: "Key does not match".
    const r2 = await uploadSignatures(h, alice, { [alice.user_id]: { [alice.device_id]: { ...altered, device_id: alice.device_id } } });
    expect(r2.body.failures[alice.user_id][alice.device_id].errcode).toBe('M_UNKNOWN');
    const r3 = await uploadSignatures(h, alice, { [alice.user_id]: { [alice.device_id]: noSig } });
    expect(r3.body.failures[alice.user_id][alice.device_id].errcode).toBe('M_INVALID_SIGNATURE');
    const q = await query(h, alice, [alice.user_id]);
    expect(Object.keys(q.body.device_keys[alice.user_id][alice.device_id].signatures[alice.user_id])).toEqual([`ed25519:${alice.device_id}`]);
    // Not objects: the whole request is refused.
    const bad = await uploadSignatures(h, alice, { [alice.user_id]: { [alice.device_id]: 'x' } } as unknown as JsonObject);
    expect([bad.status, bad.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
  });

  it("signs another user's master key with the user-signing key; only the signer sees it and is told", async () => {
    const h = await setup();
    const { alice, cs } = await signedUpAlice(h);
    const bob = await h.device('bob');
    await h.uploadDeviceKeys(bob);
    const bobCs = await h.setupCrossSigning(bob);
    const carol = await h.device('carol');
    await h.sharedRoom(alice.user_id, bob.user_id, carol.user_id);
    const uskId = `ed25519:${cs.userSigning.publicKey}`;
    const since = h.e2ee.deviceKeys.position();
    const signed = signAs(bobCs.masterKey, alice.user_id, uskId, cs.userSigning);
    const r = await uploadSignatures(h, alice, { [bob.user_id]: { [bobCs.master.publicKey]: signed, SOMEDEVICE: deviceKeysOf(bob) } });
    expect(r.status).toBe(200);
    // Only the master key of another user can be signed.
    expect(Object.keys(r.body.failures)).toEqual([bob.user_id]);
    expect(Object.keys(r.body.failures[bob.user_id])).toEqual(['SOMEDEVICE']);

    const seenByAlice = await query(h, alice, [bob.user_id]);
    expect(seenByAlice.body.master_keys[bob.user_id].signatures[alice.user_id][uskId]).toBe((signed.signatures as any)[alice.user_id][uskId]);
    for (const viewer of [bob, carol]) {
      const q = await query(h, viewer, [bob.user_id]);
      expect(q.body.master_keys[bob.user_id].signatures?.[alice.user_id]).toBeUndefined();
    }
    const upTo = h.e2ee.deviceKeys.position();
    expect(h.e2ee.deviceKeys.deviceListChanges(alice.user_id, since, upTo).changed).toEqual([bob.user_id]);
    expect(h.e2ee.deviceKeys.deviceListChanges(carol.user_id, since, upTo).changed).toEqual([]);

    // Without a user-signing key, or for a user without a master key: failures.
    const dave = await h.device('dave');
    const r2 = await uploadSignatures(h, dave, { [bob.user_id]: { [bobCs.master.publicKey]: signed } });
    expect(r2.body.failures[bob.user_id][bobCs.master.publicKey].errcode).toBe('M_NOT_FOUND');
    const r3 = await uploadSignatures(h, alice, { [dave.user_id]: { X: signed } });
    expect(r3.body.failures[dave.user_id].X.errcode).toBe('M_NOT_FOUND');
  });

  it('a replaced self-signing key takes its signatures with it', async () => {
    const h = await setup();
    const { alice, cs } = await signedUpAlice(h);
    const sskId = `ed25519:${cs.selfSigning.publicKey}`;
    await uploadSignatures(h, alice, { [alice.user_id]: { [alice.device_id]: signAs(deviceKeysOf(alice), alice.user_id, sskId, cs.selfSigning) } });
    const ssk2 = crossSigningKey(alice.user_id, 'self_signing', generateSigningKey(), cs.master);
    const c = await uploadSigning(h, alice, { self_signing_key: ssk2 });
    const ok = await uploadSigning(h, alice, { self_signing_key: ssk2, auth: passwordAuth(alice, c.body.session) });
    expect(ok.status).toBe(200);
    const q = await query(h, alice, [alice.user_id]);
    expect(q.body.device_keys[alice.user_id][alice.device_id].signatures[alice.user_id][sskId]).toBeUndefined();
  });
});

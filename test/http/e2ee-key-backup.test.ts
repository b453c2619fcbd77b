// Server-side key backup (key_backup.yaml): version CRUD, keys at the three granularities with
// etag and count, the spec's keep-or-replace rule, the current-version rule and the error answers.
import { afterEach, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { e2eeHarness, V3, type Device, type E2eeHarness } from './e2ee-harness.js';

const harnesses: E2eeHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
async function setup(): Promise<{ h: E2eeHarness; alice: Device }> {
  const h = await e2eeHarness();
  harnesses.push(h);
  return { h, alice: await h.device('alice') };
}

const ALG = 'm.megolm_backup.v1.curve25519-aes-sha2';
const ROOM = '!room:test.local';
const authData = (publicKey: string) => ({ public_key: publicKey, signatures: { '@alice:test.local': { 'ed25519:DEV': 'sig' } } });
const session = (firstMessageIndex: number, forwardedCount: number, isVerified: boolean, tag: string): JsonObject => ({
  first_message_index: firstMessageIndex,
  forwarded_count: forwardedCount,
  is_verified: isVerified,
  session_data: { ephemeral: 'eph', ciphertext: tag, mac: 'mac' },
});

describe('/room_keys/version', () => {
  it('creates, reads, updates and deletes backup versions', async () => {
    const { h, alice } = await setup();
    const t = alice.access_token;
    let r = await h.req('GET', `${V3}/room_keys/version`, { token: t });
    expect([r.status, r.body]).toEqual([404, { errcode: 'M_NOT_FOUND', error: 'No backup found' }]);

    r = await h.req('POST', `${V3}/room_keys/version`, { token: t, body: { algorithm: ALG, auth_data: authData('k1') } });
    expect([r.status, r.body]).toEqual([200, { version: '1' }]);
    r = await h.req('GET', `${V3}/room_keys/version`, { token: t });
    expect(r.body).toEqual({ algorithm: ALG, auth_data: authData('k1'), count: 0, etag: '0', version: '1' });
    r = await h.req('POST', `${V3}/room_keys/version`, { token: t, body: { algorithm: ALG, auth_data: authData('k2') } });
    expect(r.body).toEqual({ version: '2' });
    expect((await h.req('GET', `${V3}/room_keys/version`, { token: t })).body.version).toBe('2');
    expect((await h.req('GET', `${V3}/room_keys/version/1`, { token: t })).body.auth_data).toEqual(authData('k1'));

    // PUT: only auth_data changes; the algorithm must match and a body version must equal the path.
    r = await h.req('PUT', `${V3}/room_keys/version/2`, { token: t, body: { algorithm: ALG, auth_data: authData('k3'), version: '2' } });
    expect([r.status, r.body]).toEqual([200, {}]);
    expect((await h.req('GET', `${V3}/room_keys/version/2`, { token: t })).body.auth_data).toEqual(authData('k3'));
    r = await h.req('PUT', `${V3}/room_keys/version/2`, { token: t, body: { algorithm: 'other.algorithm', auth_data: {} } });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    r = await h.req('PUT', `${V3}/room_keys/version/2`, { token: t, body: { algorithm: ALG, auth_data: {}, version: '1' } });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    r = await h.req('PUT', `${V3}/room_keys/version/9`, { token: t, body: { algorithm: ALG, auth_data: {} } });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_NOT_FOUND']);

    // DELETE: twice succeeds, never-existing is 404; the latest is then the older one.
    expect((await h.req('DELETE', `${V3}/room_keys/version/2`, { token: t })).status).toBe(200);
    expect((await h.req('DELETE', `${V3}/room_keys/version/2`, { token: t })).status).toBe(200);
    r = await h.req('DELETE', `${V3}/room_keys/version/7`, { token: t });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    expect((await h.req('GET', `${V3}/room_keys/version`, { token: t })).body.version).toBe('1');
    r = await h.req('GET', `${V3}/room_keys/version/2`, { token: t });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    // Version numbers are never reused.
    expect((await h.req('POST', `${V3}/room_keys/version`, { token: t, body: { algorithm: ALG, auth_data: {} } })).body.version).toBe('3');
    r = await h.req('GET', `${V3}/room_keys/version/abc`, { token: t });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
  });

  it('checks the body, and keeps backups per user', async () => {
    const { h, alice } = await setup();
    const bob = await h.device('bob');
    let r = await h.req('POST', `${V3}/room_keys/version`, { token: alice.access_token, body: { auth_data: {} } });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    r = await h.req('POST', `${V3}/room_keys/version`, { token: alice.access_token, body: { algorithm: ALG, auth_data: 'x' } });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    r = await h.req('POST', `${V3}/room_keys/version`, { token: alice.access_token, body: { algorithm: ALG, auth_data: {} } });
    expect(r.status).toBe(200);
    r = await h.req('GET', `${V3}/room_keys/version`, { token: bob.access_token });
    expect(r.status).toBe(404);
    expect((await h.req('GET', `${V3}/room_keys/version`)).status).toBe(401);
  });
});

describe('/room_keys/keys', () => {
  it('stores and returns keys at the three granularities, with etag and count', async () => {
    const { h, alice } = await setup();
    const t = alice.access_token;
    await h.req('POST', `${V3}/room_keys/version`, { token: t, body: { algorithm: ALG, auth_data: {} } });
    let r = await h.req('PUT', `${V3}/room_keys/keys/${encodeURIComponent(ROOM)}/s1?version=1`, { token: t, body: session(5, 0, false, 'a') });
    expect([r.status, r.body]).toEqual([200, { etag: '1', count: 1 }]);
    r = await h.req('PUT', `${V3}/room_keys/keys/${encodeURIComponent(ROOM)}?version=1`, { token: t, body: { sessions: { s2: session(0, 0, false, 'b') } } });
    expect(r.body).toEqual({ etag: '2', count: 2 });
    r = await h.req('PUT', `${V3}/room_keys/keys?version=1`, { token: t, body: { rooms: { '!other:test.local': { sessions: { s3: session(0, 0, true, 'c') } } } } });
    expect(r.body).toEqual({ etag: '3', count: 3 });

    r = await h.req('GET', `${V3}/room_keys/keys?version=1`, { token: t });
    expect(r.body).toEqual({
      rooms: {
        [ROOM]: { sessions: { s1: session(5, 0, false, 'a'), s2: session(0, 0, false, 'b') } },
        '!other:test.local': { sessions: { s3: session(0, 0, true, 'c') } },
      },
    });
    r = await h.req('GET', `${V3}/room_keys/keys/${encodeURIComponent(ROOM)}?version=1`, { token: t });
    expect(r.body).toEqual({ sessions: { s1: session(5, 0, false, 'a'), s2: session(0, 0, false, 'b') } });
    r = await h.req('GET', `${V3}/room_keys/keys/${encodeURIComponent(ROOM)}/s2?version=1`, { token: t });
    expect(r.body).toEqual(session(0, 0, false, 'b'));
    r = await h.req('GET', `${V3}/room_keys/keys/${encodeURIComponent('!empty:test.local')}?version=1`, { token: t });
    expect([r.status, r.body]).toEqual([200, { sessions: {} }]);
    r = await h.req('GET', `${V3}/room_keys/keys/${encodeURIComponent(ROOM)}/nope?version=1`, { token: t });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    const v = await h.req('GET', `${V3}/room_keys/version/1`, { token: t });
    expect([v.body.count, v.body.etag]).toEqual([3, '3']);

    // Deletion at each granularity answers with the new etag and count.
    r = await h.req('DELETE', `${V3}/room_keys/keys/${encodeURIComponent(ROOM)}/s1?version=1`, { token: t });
    expect(r.body).toEqual({ etag: '4', count: 2 });
    r = await h.req('DELETE', `${V3}/room_keys/keys/${encodeURIComponent(ROOM)}?version=1`, { token: t });
    expect(r.body).toEqual({ etag: '5', count: 1 });
    r = await h.req('DELETE', `${V3}/room_keys/keys?version=1`, { token: t });
    expect(r.body).toEqual({ etag: '6', count: 0 });
    expect((await h.req('GET', `${V3}/room_keys/keys?version=1`, { token: t })).body).toEqual({ rooms: {} });
  });

  it('keeps the better key: verified, then lower first_message_index, then lower forwarded_count', async () => {
    const { h, alice } = await setup();
    const t = alice.access_token;
    await h.req('POST', `${V3}/room_keys/version`, { token: t, body: { algorithm: ALG, auth_data: {} } });
    const put = (s: JsonObject) => h.req('PUT', `${V3}/room_keys/keys/${encodeURIComponent(ROOM)}/s?version=1`, { token: t, body: s });
    const stored = async () => (await h.req('GET', `${V3}/room_keys/keys/${encodeURIComponent(ROOM)}/s?version=1`, { token: t })).body;

    await put(session(10, 3, false, 'first'));
    // Worse on every count: kept, and the etag does not move.
    let r = await put(session(12, 3, false, 'worse'));
    expect(r.body).toEqual({ etag: '1', count: 1 });
    expect(await stored()).toEqual(session(10, 3, false, 'first'));
    // Same verification, lower index: replaced.
    r = await put(session(8, 5, false, 'lower index'));
    expect(r.body.etag).toBe('2');
    expect(await stored()).toEqual(session(8, 5, false, 'lower index'));
    // Same verification and index, lower forwarded count: replaced; equal on all: kept.
    await put(session(8, 1, false, 'fewer forwards'));
    expect((await stored()).session_data.ciphertext).toBe('fewer forwards');
    await put(session(8, 1, false, 'tie'));
    expect((await stored()).session_data.ciphertext).toBe('fewer forwards');
    // Verified wins even with a higher index; an unverified key never replaces it.
    await put(session(20, 9, true, 'verified'));
    expect((await stored()).session_data.ciphertext).toBe('verified');
    await put(session(0, 0, false, 'unverified but earlier'));
    expect((await stored()).session_data.ciphertext).toBe('verified');
  });

  it('writes only to the current version; checks the version parameter and the key data', async () => {
    const { h, alice } = await setup();
    const t = alice.access_token;
    const url = (v?: string) => `${V3}/room_keys/keys/${encodeURIComponent(ROOM)}/s${v === undefined ? '' : `?version=${v}`}`;
    let r = await h.req('PUT', url('1'), { token: t, body: session(0, 0, false, 'x') });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    await h.req('POST', `${V3}/room_keys/version`, { token: t, body: { algorithm: ALG, auth_data: {} } });
    await h.req('POST', `${V3}/room_keys/version`, { token: t, body: { algorithm: ALG, auth_data: {} } });
    r = await h.req('PUT', url('1'), { token: t, body: session(0, 0, false, 'x') });
    expect([r.status, r.body]).toEqual([403, { errcode: 'M_WRONG_ROOM_KEYS_VERSION', error: 'Wrong backup version.', current_version: '2' }]);
    r = await h.req('PUT', url('99'), { token: t, body: session(0, 0, false, 'x') });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    r = await h.req('PUT', url(), { token: t, body: session(0, 0, false, 'x') });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    r = await h.req('GET', url('99'), { token: t });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    r = await h.req('DELETE', `${V3}/room_keys/keys?version=99`, { token: t });
    expect([r.status, r.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    // Reading an older live version still works.
    expect((await h.req('GET', `${V3}/room_keys/keys?version=1`, { token: t })).body).toEqual({ rooms: {} });

    for (const bad of [
      { ...session(0, 0, false, 'x'), is_verified: 'yes' },
      { ...session(0, 0, false, 'x'), first_message_index: -1 },
      { ...session(0, 0, false, 'x'), session_data: 'text' },
      { first_message_index: 0, forwarded_count: 0, is_verified: false },
    ]) {
      r = await h.req('PUT', url('2'), { token: t, body: bad });
      expect(r.status).toBe(400);
      expect(['M_INVALID_PARAM', 'M_MISSING_PARAM']).toContain(r.body.errcode);
    }
    r = await h.req('PUT', `${V3}/room_keys/keys?version=2`, { token: t, body: { rooms: { [ROOM]: { sessions: 'x' } } } });
    expect([r.status, r.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    expect((await h.req('GET', `${V3}/room_keys/version/2`, { token: t })).body.count).toBe(0);
  });

  it('deactivating the account deletes its backups', async () => {
    const { h, alice } = await setup();
    await h.req('POST', `${V3}/room_keys/version`, { token: alice.access_token, body: { algorithm: ALG, auth_data: {} } });
    await h.req('PUT', `${V3}/room_keys/keys/${encodeURIComponent(ROOM)}/s?version=1`, { token: alice.access_token, body: session(0, 0, false, 'x') });
    const r = await h.req('POST', `${V3}/account/deactivate`, {
      token: alice.access_token,
      body: { auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw' } },
    });
    expect(r.status).toBe(200);
    const rows = h.db.prepare('SELECT (SELECT COUNT(*) FROM e2e_room_keys) + (SELECT COUNT(*) FROM e2e_room_keys_versions) AS n').get() as { n: number };
    expect(rows.n).toBe(0);
  });
});

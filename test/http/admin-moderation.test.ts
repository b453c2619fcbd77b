// Client-server "Server administration" and "Account moderation": whois (with the addresses and user
// agents recorded by the auth hook, at most once a minute per connection), suspension (M_USER_SUSPENDED
// on the restricted actions only) and locks (401 M_USER_LOCKED with soft_logout everywhere but logout),
// both kept across a restart.
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db.js';
import { createAdminService } from '../../src/admin/service.js';
import { clientRouteSegments, lockExempt, suspensionRuleFor } from '../../src/admin/account-status.js';
import { adminHarness, ADMIN, enc, NOW, R0, SERVER, V1, V3 } from './admin-harness.js';

describe('whois', () => {
  it('the user themself or a server admin; connections per device with address, user agent and last seen', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    const carol = await h.register('carol');
    const ua = { 'user-agent': 'Element/1.11' };
    await h.req('GET', `${V3}/account/whoami`, { token: bob.access_token, headers: ua, remoteAddress: '192.0.2.1' });

    const self = await h.req('GET', `${V3}/admin/whois/${enc(bob.user_id)}`, { token: bob.access_token });
    expect(self.status).toBe(200);
    const other = await h.req('GET', `${V3}/admin/whois/${enc(bob.user_id)}`, { token: carol.access_token });
    expect(other.status).toBe(403);
    expect(other.body.errcode).toBe('M_FORBIDDEN');
    const remote = await h.req('GET', `${V3}/admin/whois/${enc('@x:elsewhere.org')}`, { token: root.access_token });
    expect(remote.status).toBe(400);

    const r = await h.req('GET', `${R0}/admin/whois/${bob.user_id}`, { token: root.access_token });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe(bob.user_id);
    const connections = () => h.req('GET', `${V3}/admin/whois/${enc(bob.user_id)}`, { token: root.access_token }).then((x) => x.body.devices[bob.device_id].sessions[0].connections);
    // The whois request by bob himself (no user agent, the injector's address) is a connection too.
    expect(await connections()).toContainEqual({ ip: '192.0.2.1', last_seen: NOW, user_agent: 'Element/1.11' });

    // Within a minute the same connection is not written again; after it, it is.
    h.clock.now = NOW + 30_000;
    await h.req('GET', `${V3}/account/whoami`, { token: bob.access_token, headers: ua, remoteAddress: '192.0.2.1' });
    expect(await connections()).toContainEqual({ ip: '192.0.2.1', last_seen: NOW, user_agent: 'Element/1.11' });
    h.clock.now = NOW + 61_000;
    await h.req('GET', `${V3}/account/whoami`, { token: bob.access_token, headers: ua, remoteAddress: '192.0.2.1' });
    expect(await connections()).toContainEqual({ ip: '192.0.2.1', last_seen: NOW + 61_000, user_agent: 'Element/1.11' });
    // Another address is another connection, written at once.
    await h.req('GET', `${V3}/account/whoami`, { token: bob.access_token, headers: ua, remoteAddress: '198.51.100.7' });
    expect((await connections()).map((c: any) => c.ip)).toContain('198.51.100.7');

    // A second device appears; a logged-out device and its addresses go.
    const bob2 = await h.login('bob');
    await h.req('GET', `${V3}/account/whoami`, { token: bob2.access_token, remoteAddress: '203.0.113.9' });
    let devices = (await h.req('GET', `${V3}/admin/whois/${enc(bob.user_id)}`, { token: root.access_token })).body.devices;
    expect(Object.keys(devices).sort()).toEqual([bob.device_id, bob2.device_id].sort());
    expect(devices[bob2.device_id].sessions[0].connections[0].ip).toBe('203.0.113.9');
    await h.req('POST', `${V3}/logout`, { token: bob2.access_token, body: {} });
    devices = (await h.req('GET', `${V3}/admin/whois/${enc(bob.user_id)}`, { token: root.access_token })).body.devices;
    expect(Object.keys(devices)).toEqual([bob.device_id]);
    expect(h.db.prepare('SELECT count(*) AS n FROM client_ips WHERE device_id = ?').get(bob2.device_id)).toEqual({ n: 0 });
  });
});

describe('suspension', () => {
  it('only server admins, authorisation before lookup; local, existing, non-admin targets; not oneself', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const root2 = await h.register('root2', { admin: true });
    const bob = await h.register('bob');
    const url = (u: string) => `${V1}/admin/suspend/${enc(u)}`;
    // A non-admin gets 403 whether the target exists or not (no user enumeration).
    for (const target of [root.user_id, `@ghost:${SERVER}`, '@x:elsewhere.org']) {
      const g = await h.req('GET', url(target), { token: bob.access_token });
      expect(g.status).toBe(403);
      expect(g.body.errcode).toBe('M_FORBIDDEN');
      expect((await h.req('PUT', url(target), { token: bob.access_token, body: { suspended: true } })).status).toBe(403);
    }
    const remote = await h.req('GET', url('@x:elsewhere.org'), { token: root.access_token });
    expect(remote.status).toBe(400);
    expect(remote.body.errcode).toBe('M_INVALID_PARAM');
    const ghost = await h.req('PUT', url(`@ghost:${SERVER}`), { token: root.access_token, body: { suspended: true } });
    expect(ghost.status).toBe(404);
    expect(ghost.body.errcode).toBe('M_NOT_FOUND');
    expect((await h.req('PUT', url(root.user_id), { token: root.access_token, body: { suspended: true } })).status).toBe(403);
    expect((await h.req('PUT', url(root2.user_id), { token: root.access_token, body: { suspended: true } })).status).toBe(403);
    expect((await h.req('GET', url(root2.user_id), { token: root.access_token })).status).toBe(403);
    expect((await h.req('PUT', url(bob.user_id), { token: root.access_token, body: {} })).body.errcode).toBe('M_MISSING_PARAM');
    expect((await h.req('PUT', url(bob.user_id), { token: root.access_token, body: { suspended: 'yes' } })).body.errcode).toBe('M_BAD_JSON');
    expect((await h.req('GET', url(bob.user_id), { token: root.access_token })).body).toEqual({ suspended: false });
    const put = await h.req('PUT', url(bob.user_id), { token: root.access_token, body: { suspended: true } });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ suspended: true });
    expect((await h.req('GET', url(bob.user_id), { token: root.access_token })).body).toEqual({ suspended: true });
    // Deactivated users are "not found".
    await h.req('POST', `${ADMIN}/v1/deactivate/${bob.user_id}`, { token: root.access_token, body: {} });
    expect((await h.req('GET', url(bob.user_id), { token: root.access_token })).status).toBe(404);
  });

  it('a suspended user reads, syncs, leaves and redacts their own events, but cannot join, invite, send, change state or profile', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    const carol = await h.register('carol');
    const roomId = await h.createRoom(root, { preset: 'public_chat' });
    const other = await h.createRoom(root, { preset: 'public_chat' });
    await h.join(bob, roomId);
    await h.join(carol, roomId);
    const own = await h.send(bob, roomId, 'mine');
    const theirs = await h.send(carol, roomId, 'theirs');
    await h.req('PUT', `${V1}/admin/suspend/${enc(bob.user_id)}`, { token: root.access_token, body: { suspended: true } });
    expect(h.admin.gate.isSuspended((await h.users.store.getUser(bob.user_id))!.nid)).toBe(true);

    const t = { token: bob.access_token };
    const refused: [string, string, unknown][] = [
      ['PUT', `${V3}/rooms/${enc(roomId)}/send/m.room.message/s1`, { msgtype: 'm.text', body: 'hi' }],
      ['PUT', `${R0}/rooms/${enc(roomId)}/send/m.room.message/s2`, { msgtype: 'm.text', body: 'hi' }],
      ['PUT', `${V3}/rooms/${enc(roomId)}/state/m.room.topic/`, { topic: 'x' }],
      ['POST', `${V3}/join/${enc(other)}`, {}],
      ['POST', `${V3}/rooms/${enc(other)}/join`, {}],
      ['POST', `${V3}/knock/${enc(other)}`, {}],
      ['POST', `${V3}/rooms/${enc(roomId)}/invite`, { user_id: root.user_id }],
      ['POST', `${V3}/createRoom`, {}],
      ['PUT', `${V3}/profile/${enc(bob.user_id)}/displayname`, { displayname: 'Evil' }],
      ['PUT', `${V3}/rooms/${enc(roomId)}/redact/${enc(theirs)}/r1`, {}],
    ];
    for (const [method, url, body] of refused) {
      const r = await h.req(method as 'PUT', url, { ...t, body });
      expect(r.status, `${method} ${url}`).toBe(403);
      expect(r.body.errcode, `${method} ${url}`).toBe('M_USER_SUSPENDED');
    }
    expect((await h.store.getMembership(other, bob.user_id))).toBeUndefined();

    expect((await h.req('GET', `${V3}/sync`, t)).status).toBe(200);
    expect((await h.req('GET', `${V3}/rooms/${enc(roomId)}/messages?dir=b`, t)).status).toBe(200);
    expect((await h.req('POST', `${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(theirs)}`, { ...t, body: {} })).status).toBe(200);
    const redactOwn = await h.req('PUT', `${V3}/rooms/${enc(roomId)}/redact/${enc(own)}/r2`, { ...t, body: {} });
    expect(redactOwn.status).toBe(200);
    expect((await h.req('POST', `${V3}/rooms/${enc(roomId)}/leave`, { ...t, body: {} })).status).toBe(200);

    // Lifted: joining and sending work again.
    await h.req('PUT', `${V1}/admin/suspend/${enc(bob.user_id)}`, { token: root.access_token, body: { suspended: false } });
    await h.join(bob, roomId);
    await h.send(bob, roomId, 'back');
  });

  it('the route rules, as a table', () => {
    const cases: [string, string, string | undefined][] = [
      ['PUT', '/_matrix/client/v3/rooms/:roomId/send/:eventType/:txnId', 'forbidden'],
      ['PUT', '/_matrix/client/r0/rooms/:roomId/state/:eventType/:stateKey', 'forbidden'],
      ['PUT', '/_matrix/client/v3/rooms/:roomId/state/:eventType', 'forbidden'],
      ['POST', '/_matrix/client/v3/join/:roomIdOrAlias', 'forbidden'],
      ['POST', '/_matrix/client/unstable/knock/:roomIdOrAlias', 'forbidden'],
      ['POST', '/_matrix/client/v3/rooms/:roomId/invite', 'forbidden'],
      ['POST', '/_matrix/client/v3/rooms/:roomId/upgrade', 'forbidden'],
      ['POST', '/_matrix/client/v3/createRoom', 'forbidden'],
      ['DELETE', '/_matrix/client/v3/profile/:userId/:keyName', 'forbidden'],
      ['PUT', '/_matrix/client/v3/rooms/:roomId/redact/:eventId/:txnId', 'own-event'],
      ['POST', '/_matrix/client/v3/rooms/:roomId/leave', undefined],
      ['POST', '/_matrix/client/v3/rooms/:roomId/kick', undefined],
      ['GET', '/_matrix/client/v3/rooms/:roomId/state/:eventType/:stateKey', undefined],
      ['GET', '/_matrix/client/v3/profile/:userId/:keyName', undefined],
      ['POST', '/_matrix/client/v3/logout', undefined],
      ['POST', '/_matrix/client/v3/keys/upload', undefined],
      ['PUT', '/_matrix/client/v3/room_keys/keys', undefined],
      ['POST', '/_matrix/client/v3/account/deactivate', undefined],
      ['PUT', '/_synapse/admin/v2/users/:userId', undefined],
    ];
    for (const [method, url, kind] of cases) expect(suspensionRuleFor(method, url)?.kind, `${method} ${url}`).toBe(kind);
    expect(suspensionRuleFor('PUT', '/_matrix/client/v3/rooms/:roomId/redact/:eventId/:txnId')).toEqual({ kind: 'own-event', eventIdParam: 'eventId' });
    expect(clientRouteSegments('/_matrix/client/unstable/im.nheko.summary/summary/:x')).toEqual(['summary', ':x']);
    expect(lockExempt('POST', '/_matrix/client/r0/logout/all')).toBe(true);
    expect(lockExempt('POST', '/_matrix/client/v3/logout')).toBe(true);
    expect(lockExempt('GET', '/_matrix/client/v3/sync')).toBe(false);
  });
});

describe('locks', () => {
  it('a locked account gets 401 M_USER_LOCKED with soft_logout on every request but logout; unlocking restores the same token', async () => {
    const h = await adminHarness();
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    const bob2 = await h.login('bob');
    const url = `${V1}/admin/lock/${enc(bob.user_id)}`;
    expect((await h.req('GET', url, { token: bob.access_token })).status).toBe(403);
    expect((await h.req('PUT', url, { token: root.access_token, body: { locked: true } })).body).toEqual({ locked: true });
    expect((await h.req('GET', url, { token: root.access_token })).body).toEqual({ locked: true });

    for (const [method, path] of [
      ['GET', `${V3}/sync`],
      ['GET', `${V3}/account/whoami`],
      ['GET', `${R0}/joined_rooms`],
      ['POST', `${V3}/createRoom`],
    ] as const) {
      const r = await h.req(method, path, { token: bob.access_token, ...(method === 'POST' ? { body: {} } : {}) });
      expect(r.status, path).toBe(401);
      expect(r.body).toEqual({ errcode: 'M_USER_LOCKED', error: 'This account has been locked', soft_logout: true });
    }
    // Logging out stays possible (and ends that session).
    expect((await h.req('POST', `${V3}/logout`, { token: bob2.access_token, body: {} })).status).toBe(200);

    // The lock through the Synapse API shows in the user's details; lifting it restores the token.
    const details = await h.req('GET', `${ADMIN}/v2/users/${bob.user_id}`, { token: root.access_token });
    expect(details.body.locked).toBe(true);
    const listed = await h.req('GET', `${ADMIN}/v2/users`, { token: root.access_token });
    expect(listed.body.users.map((u: any) => u.name)).not.toContain(bob.user_id);
    const withLocked = await h.req('GET', `${ADMIN}/v2/users?locked=true`, { token: root.access_token });
    expect(withLocked.body.users.map((u: any) => u.name)).toContain(bob.user_id);
    const unlock = await h.req('PUT', `${ADMIN}/v2/users/${bob.user_id}`, { token: root.access_token, body: { locked: false } });
    expect(unlock.body.locked).toBe(false);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: bob.access_token })).status).toBe(200);
  });

  it('suspension and locks survive a restart (a new service over the same database)', async () => {
    const db = openDatabase(':memory:');
    const h = await adminHarness({}, { db });
    const root = await h.register('root', { admin: true });
    const bob = await h.register('bob');
    const carol = await h.register('carol');
    await h.req('PUT', `${V1}/admin/lock/${enc(bob.user_id)}`, { token: root.access_token, body: { locked: true } });
    await h.req('PUT', `${V1}/admin/suspend/${enc(carol.user_id)}`, { token: root.access_token, body: { suspended: true } });
    const restarted = await createAdminService({ db, store: h.store, users: h.users, serverName: SERVER });
    const nid = async (u: string) => (await h.users.store.getUser(u))!.nid;
    expect(restarted.gate.isLocked(await nid(bob.user_id))).toBe(true);
    expect(restarted.gate.isSuspended(await nid(carol.user_id))).toBe(true);
    expect(restarted.gate.isLocked(await nid(carol.user_id))).toBe(false);
    await h.close();
    db.close();
  });
});

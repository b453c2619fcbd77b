// Device management through the HTTP API: list, get, rename, delete one or many behind UIA.
import { afterEach, describe, expect, it } from 'vitest';
import { SERVER, usersHarness, type UsersHarness } from './users-harness.js';

const harnesses: UsersHarness[] = [];
async function setup() {
  const h = await usersHarness();
  harnesses.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

const V3 = '/_matrix/client/v3';
const R0 = '/_matrix/client/r0';

describe('devices', () => {
  it('lists the devices of the user with names and last-seen data; gets one; 404 for unknown', async () => {
    const h = await setup();
    const a = await h.register('dana', 'pw', { device_id: 'AAAA', initial_device_display_name: 'Laptop' });
    h.clock.now += 1000;
    const b = await h.login('dana', 'pw', { device_id: 'BBBB' });
    await h.register('eve', 'pw', { device_id: 'EEEE' });
    const list = await h.req('GET', `${V3}/devices`, { token: a.access_token });
    expect(list.status).toBe(200);
    const devices = list.body.devices as Record<string, unknown>[];
    expect(devices.map((d) => d.device_id)).toEqual(['AAAA', 'BBBB']);
    expect(devices[0]).toMatchObject({ device_id: 'AAAA', display_name: 'Laptop', last_seen_ip: '127.0.0.1' });
    expect(typeof devices[0]!.last_seen_ts).toBe('number');
    // No display name was set for BBBB: null, as Synapse answers (matrix-nio requires the key).
    const bbbb = await h.req('GET', `${R0}/devices/BBBB`, { token: b.access_token });
    expect(bbbb.status).toBe(200);
    expect(bbbb.body).toMatchObject({ device_id: 'BBBB', display_name: null, last_seen_ip: '127.0.0.1' });
    expect(Object.keys(bbbb.body).sort()).toEqual(['device_id', 'display_name', 'last_seen_ip', 'last_seen_ts']);
    // A device logged in but never used since: last seen at its login.
    h.clock.now += 1000;
    const loginTs = h.clock.now;
    await h.login('dana', 'pw', { device_id: 'CCCC' });
    h.clock.now += 5000;
    const c = await h.req('GET', `${V3}/devices/CCCC`, { token: a.access_token });
    expect(c.body).toEqual({ device_id: 'CCCC', display_name: null, last_seen_ip: '127.0.0.1', last_seen_ts: loginTs });
    const other = await h.req('GET', `${V3}/devices/EEEE`, { token: a.access_token });
    expect([other.status, other.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
  });

  it('renames a device; 404 for unknown devices; refuses over-long names and bad bodies', async () => {
    const h = await setup();
    const a = await h.register('finn', 'pw', { device_id: 'FIN1' });
    expect((await h.req('PUT', `${V3}/devices/FIN1`, { token: a.access_token, body: { display_name: 'Desk' } })).status).toBe(200);
    expect((await h.req('GET', `${V3}/devices/FIN1`, { token: a.access_token })).body.display_name).toBe('Desk');
    // No display_name: unchanged.
    expect((await h.req('PUT', `${V3}/devices/FIN1`, { token: a.access_token, body: {} })).status).toBe(200);
    expect((await h.req('GET', `${V3}/devices/FIN1`, { token: a.access_token })).body.display_name).toBe('Desk');
    const unknown = await h.req('PUT', `${V3}/devices/NOPE`, { token: a.access_token, body: { display_name: 'x' } });
    expect([unknown.status, unknown.body.errcode]).toEqual([404, 'M_NOT_FOUND']);
    const long = await h.req('PUT', `${V3}/devices/FIN1`, { token: a.access_token, body: { display_name: 'x'.repeat(101) } });
    expect([long.status, long.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    const wrongType = await h.req('PUT', `${V3}/devices/FIN1`, { token: a.access_token, body: { display_name: 7 } });
    expect([wrongType.status, wrongType.body.errcode]).toEqual([400, 'M_BAD_JSON']);
    const empty = await h.req('PUT', `${V3}/devices/FIN1`, { token: a.access_token });
    expect([empty.status, empty.body.errcode]).toEqual([400, 'M_NOT_JSON']);
  });

  it('DELETE /devices/{id} needs the password stage; the deleted device\'s token stops working', async () => {
    const h = await setup();
    const a = await h.register('gina', 'pw', { device_id: 'KEEP' });
    const b = await h.login('gina', 'pw', { device_id: 'GONE' });
    const removed: string[][] = [];
    h.users.hooks.devicesRemoved.push((_u, ids) => void removed.push(ids));
    // matrix-js-sdk sends the first DELETE without any body.
    const first = await h.req('DELETE', `${V3}/devices/GONE`, { token: a.access_token });
    expect(first.status).toBe(401);
    expect(first.body.flows).toEqual([{ stages: ['m.login.password'] }]);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: b.access_token })).status).toBe(200);
    const wrong = await h.req('DELETE', `${V3}/devices/GONE`, {
      token: a.access_token,
      body: { auth: { type: 'm.login.password', session: first.body.session, identifier: { type: 'm.id.user', user: 'gina' }, password: 'bad' } },
    });
    expect([wrong.status, wrong.body.errcode]).toEqual([401, 'M_FORBIDDEN']);
    const ok = await h.req('DELETE', `${V3}/devices/GONE`, {
      token: a.access_token,
      body: { auth: { type: 'm.login.password', session: first.body.session, identifier: { type: 'm.id.user', user: 'gina' }, password: 'pw' } },
    });
    expect(ok.status).toBe(200);
    expect(removed).toEqual([['GONE']]);
    const dead = await h.req('GET', `${V3}/account/whoami`, { token: b.access_token });
    expect([dead.status, dead.body.errcode]).toEqual([401, 'M_UNKNOWN_TOKEN']);
    const list = await h.req('GET', `${V3}/devices`, { token: a.access_token });
    expect(list.body.devices.map((d: { device_id: string }) => d.device_id)).toEqual(['KEEP']);
    // A device already gone: still 200 after auth.
    const again = await h.req('DELETE', `${R0}/devices/GONE`, {
      token: a.access_token,
      body: { auth: { type: 'm.login.password', user: 'gina', password: 'pw' } },
    });
    expect(again.status).toBe(200);
  });

  it('POST /delete_devices deletes several; its UIA session is bound to the devices it was started for', async () => {
    const h = await setup();
    const a = await h.register('hugo', 'pw', { device_id: 'MAIN' });
    const d1 = await h.login('hugo', 'pw', { device_id: 'D1' });
    const d2 = await h.login('hugo', 'pw', { device_id: 'D2' });
    const first = await h.req('POST', `${V3}/delete_devices`, { token: a.access_token, body: { devices: ['D1'] } });
    expect(first.status).toBe(401);
    const session = first.body.session as string;
    const auth = { type: 'm.login.password', session, identifier: { type: 'm.id.user', user: 'hugo' }, password: 'pw' };
    // Same session, other devices: refused.
    const swapped = await h.req('POST', `${V3}/delete_devices`, { token: a.access_token, body: { devices: ['D1', 'MAIN'], auth } });
    expect(swapped.status).toBe(403);
    const ok = await h.req('POST', `${V3}/delete_devices`, { token: a.access_token, body: { devices: ['D1'], auth } });
    expect(ok.status).toBe(200);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: d1.access_token })).status).toBe(401);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: d2.access_token })).status).toBe(200);

    const both = await h.req('POST', `${R0}/delete_devices`, {
      token: a.access_token,
      body: { devices: ['D2', 'UNKNOWN'], auth: { type: 'm.login.password', user: `@hugo:${SERVER}`, password: 'pw' } },
    });
    expect(both.status).toBe(200);
    expect((await h.req('GET', `${V3}/account/whoami`, { token: d2.access_token })).status).toBe(401);

    const missing = await h.req('POST', `${V3}/delete_devices`, { token: a.access_token, body: {} });
    expect([missing.status, missing.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    const bad = await h.req('POST', `${V3}/delete_devices`, { token: a.access_token, body: { devices: 'D2' } });
    expect([bad.status, bad.body.errcode]).toEqual([400, 'M_BAD_JSON']);
  });

  it('needs an access token', async () => {
    const h = await setup();
    for (const [m, p] of [['GET', '/devices'], ['GET', '/devices/X'], ['PUT', '/devices/X'], ['DELETE', '/devices/X'], ['POST', '/delete_devices']] as const) {
      const r = await h.req(m, `${V3}${p}`, { body: {} });
      expect([p, r.status, r.body.errcode]).toEqual([p, 401, 'M_MISSING_TOKEN']);
    }
  });
});

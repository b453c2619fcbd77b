// Synapse's shared-secret registration (/_synapse/admin/v1/register) and the register-user command,
// driven the way Synapse's register_new_matrix_user drives it.
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { clientUrlFromConfig, registerUserCommand, type RegisterUserIo } from '../../src/cli/register-user.js';
import { computeRegistrationMac, macMatches } from '../../src/users/shared-secret.js';
import { SERVER, usersHarness, type UsersHarness } from './users-harness.js';

const SECRET = 'shared secret ☃';
const harnesses: UsersHarness[] = [];
async function setup(config: Record<string, unknown> = { registration_shared_secret: SECRET }) {
  const h = await usersHarness({ enable_registration: false, ...config });
  harnesses.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

const ADMIN = '/_synapse/admin/v1/register';

/** The MAC as Synapse's documentation describes it, built independently of our helper. */
function referenceMac(secret: string, nonce: string, user: string, password: string, admin: boolean, userType?: string): string {
  const parts = [nonce, user, password, admin ? 'admin' : 'notadmin'];
  if (userType) parts.push(userType);
  return createHmac('sha1', secret).update(Buffer.from(parts.join('\x00'), 'utf8')).digest('hex');
}

describe('shared-secret MAC', () => {
  it('matches the documented construction, with and without user_type', () => {
    for (const [admin, type] of [[false, undefined], [true, undefined], [false, 'bot'], [true, 'support']] as const) {
      const mac = computeRegistrationMac(SECRET, { nonce: 'n0nce', username: 'ünïcode', password: 'p\u00e4ss', admin, userType: type ?? null });
      expect(mac).toBe(referenceMac(SECRET, 'n0nce', 'ünïcode', 'p\u00e4ss', admin, type));
    }
    const mac = computeRegistrationMac('k', { nonce: 'a', username: 'b', password: 'c', admin: false });
    expect(macMatches(mac, mac.toUpperCase())).toBe(true);
    expect(macMatches(mac, mac.slice(0, -1) + (mac.endsWith('0') ? '1' : '0'))).toBe(false);
    expect(macMatches(mac, 'zz')).toBe(false);
    expect(macMatches(mac, '')).toBe(false);
  });
});

describe('POST /_synapse/admin/v1/register', () => {
  it('registers a user with nonce + HMAC (even with enable_registration off), admin flag honoured', async () => {
    const h = await setup();
    const { nonce } = (await h.req('GET', ADMIN)).body as { nonce: string };
    expect(typeof nonce).toBe('string');
    // Exactly the body Synapse's tool sends, user_type null included.
    const body = { nonce, username: 'root', password: 'pw', admin: true, user_type: null, mac: referenceMac(SECRET, nonce, 'root', 'pw', true) };
    const r = await h.req('POST', ADMIN, { body });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ user_id: `@root:${SERVER}`, home_server: SERVER });
    const who = await h.req('GET', '/_matrix/client/v3/account/whoami', { token: r.body.access_token });
    expect(who.body.device_id).toBe(r.body.device_id);
    const row = h.db.prepare('SELECT is_admin, user_type FROM users WHERE user_id = ?').get(`@root:${SERVER}`);
    expect(row).toEqual({ is_admin: 1, user_type: null });
    await expect(h.login('root', 'pw')).resolves.toBeDefined();
    // Nonces are single use.
    const replay = await h.req('POST', ADMIN, { body: { ...body, username: 'root2', mac: referenceMac(SECRET, nonce, 'root2', 'pw', true) } });
    expect(replay.status).toBe(400);
  });

  it('accepts user_type in the MAC and sets the display name', async () => {
    const h = await setup();
    const { nonce } = (await h.req('GET', ADMIN)).body as { nonce: string };
    const r = await h.req('POST', ADMIN, {
      body: { nonce, username: 'helper', password: 'pw', admin: false, user_type: 'bot', displayname: 'Helper Bot', mac: referenceMac(SECRET, nonce, 'helper', 'pw', false, 'bot') },
    });
    expect(r.status).toBe(200);
    expect(h.db.prepare('SELECT is_admin, user_type FROM users WHERE user_id = ?').get(`@helper:${SERVER}`)).toEqual({ is_admin: 0, user_type: 'bot' });
    expect((await h.req('GET', `/_matrix/client/v3/profile/@helper:${SERVER}`)).body).toEqual({ displayname: 'Helper Bot' });
  });

  it('refuses a wrong MAC (403), unknown/expired nonces, bad fields, taken and invalid names', async () => {
    const h = await setup();
    const nonceOf = async () => ((await h.req('GET', ADMIN)).body as { nonce: string }).nonce;
    let nonce = await nonceOf();
    const wrong = await h.req('POST', ADMIN, { body: { nonce, username: 'u1', password: 'pw', admin: false, mac: referenceMac('other', nonce, 'u1', 'pw', false) } });
    expect([wrong.status, wrong.body.errcode]).toEqual([403, 'M_FORBIDDEN']);
    // admin flag flipped after signing: the MAC no longer matches.
    nonce = await nonceOf();
    const flipped = await h.req('POST', ADMIN, { body: { nonce, username: 'u1', password: 'pw', admin: true, mac: referenceMac(SECRET, nonce, 'u1', 'pw', false) } });
    expect(flipped.status).toBe(403);
    const unknown = await h.req('POST', ADMIN, { body: { nonce: 'made-up', username: 'u1', password: 'pw', mac: 'ab' } });
    expect(unknown.status).toBe(400);
    nonce = await nonceOf();
    h.clock.now += 61_000;
    const expired = await h.req('POST', ADMIN, { body: { nonce, username: 'u1', password: 'pw', admin: false, mac: referenceMac(SECRET, nonce, 'u1', 'pw', false) } });
    expect(expired.status).toBe(400);
    nonce = await nonceOf();
    const badType = await h.req('POST', ADMIN, { body: { nonce, username: 'u1', password: 'pw', user_type: 'wizard', mac: referenceMac(SECRET, nonce, 'u1', 'pw', false, 'wizard') } });
    expect([badType.status, badType.body.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    nonce = await nonceOf();
    const noMac = await h.req('POST', ADMIN, { body: { nonce, username: 'u1', password: 'pw' } });
    expect([noMac.status, noMac.body.errcode]).toEqual([400, 'M_MISSING_PARAM']);
    nonce = await nonceOf();
    const invalid = await h.req('POST', ADMIN, { body: { nonce, username: 'no spaces', password: 'pw', admin: false, mac: referenceMac(SECRET, nonce, 'no spaces', 'pw', false) } });
    expect([invalid.status, invalid.body.errcode]).toEqual([400, 'M_INVALID_USERNAME']);
    nonce = await nonceOf();
    await h.req('POST', ADMIN, { body: { nonce, username: 'taken', password: 'pw', admin: false, mac: referenceMac(SECRET, nonce, 'taken', 'pw', false) } });
    nonce = await nonceOf();
    const taken = await h.req('POST', ADMIN, { body: { nonce, username: 'TAKEN', password: 'pw', admin: false, mac: referenceMac(SECRET, nonce, 'TAKEN', 'pw', false) } });
    expect([taken.status, taken.body.errcode]).toEqual([400, 'M_USER_IN_USE']);
  });

  it('is off without registration_shared_secret', async () => {
    const h = await setup({});
    const r = await h.req('GET', ADMIN);
    expect(r.status).toBe(400);
    const p = await h.req('POST', ADMIN, { body: { nonce: 'x', username: 'a', password: 'b', mac: 'c' } });
    expect(p.status).toBe(400);
  });
});

describe('register-user command', () => {
  function captureIo(prompts: string[] = []): RegisterUserIo & { stdout: string; stderr: string; asked: string[] } {
    const io = {
      stdout: '',
      stderr: '',
      asked: [] as string[],
      out(t: string) {
        io.stdout += t;
      },
      err(t: string) {
        io.stderr += t;
      },
      fetch: globalThis.fetch,
      ...(prompts.length > 0
        ? {
            prompt: async (q: string) => {
              io.asked.push(q);
              return prompts.shift() ?? '';
            },
          }
        : {}),
    };
    return io;
  }

  async function listening(h: UsersHarness): Promise<string> {
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    return `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  }

  it('registers an admin over HTTP with the secret from a config file', async () => {
    const h = await setup();
    const url = await listening(h);
    const dir = mkdtempSync(join(tmpdir(), 'p8-cli-'));
    try {
      const cfg = join(dir, 'homeserver.yaml');
      writeFileSync(cfg, `server_name: ${SERVER}\nregistration_shared_secret: "${SECRET}"\n`);
      const io = captureIo();
      const code = await registerUserCommand(['-u', 'alice', '-p', 'secret', '--admin', '--config', cfg, url], io);
      expect([code, io.stderr]).toEqual([0, '']);
      expect(io.stdout).toContain(`@alice:${SERVER}`);
      expect(h.db.prepare('SELECT is_admin FROM users WHERE user_id = ?').get(`@alice:${SERVER}`)).toEqual({ is_admin: 1 });
      await expect(h.login('alice', 'secret')).resolves.toBeDefined();

      // Again: the server says the name is taken, the command fails.
      const again = captureIo();
      expect(await registerUserCommand(['-u', 'alice', '-p', 'secret', '-c', cfg, url], again)).toBe(1);
      expect(again.stderr).toContain('M_USER_IN_USE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes the secret from -k, asks for missing values on a terminal, fails with a wrong secret', async () => {
    const h = await setup();
    const url = await listening(h);
    const io = captureIo(['bob', 'pw', 'pw', 'no']);
    expect(await registerUserCommand(['-k', SECRET, url], io)).toBe(0);
    expect(io.asked).toEqual(['New user localpart: ', 'Password: ', 'Confirm password: ', 'Make admin [no]: ']);
    expect(h.db.prepare('SELECT is_admin FROM users WHERE user_id = ?').get(`@bob:${SERVER}`)).toEqual({ is_admin: 0 });

    const bad = captureIo();
    expect(await registerUserCommand(['-u', 'carl', '-p', 'pw', '-k', 'wrong', url], bad)).toBe(1);
    expect(bad.stderr).toContain('403');

    const mismatch = captureIo(['dan', 'pw', 'other']);
    expect(await registerUserCommand(['-k', SECRET, url], mismatch)).toBe(1);
    expect(mismatch.stderr).toContain('do not match');

    const noTty = captureIo();
    expect(await registerUserCommand(['-k', SECRET, url], noTty)).toBe(1);
    const noSecret = captureIo();
    expect(await registerUserCommand(['-u', 'x', '-p', 'y', url], noSecret)).toBe(1);
    const usage = captureIo();
    expect(await registerUserCommand(['--bogus'], usage)).toBe(2);
  });

  it('finds the client listener in the config when no URL is given', () => {
    const cfg = parseConfig({
      listeners: [
        { port: 8448, tls: true, resources: [{ names: ['federation'] }] },
        { port: 8009, resources: [{ names: ['client', 'federation'] }] },
      ],
      tls_certificate_path: '/x.crt',
      tls_private_key_path: '/x.key',
    }).config;
    expect(clientUrlFromConfig(cfg)).toBe('http://localhost:8009');
    expect(clientUrlFromConfig(parseConfig({}).config)).toBe('http://localhost:8008');
  });
});

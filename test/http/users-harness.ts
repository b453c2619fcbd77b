// Test harness for the account routes: an app built by buildApp over a :memory: database with the
// users service, a settable clock, and helpers that register and log in the way real clients do.
import type { FastifyInstance, InjectOptions } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { buildApp } from '../../src/http/app.js';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createUsersService, usersOptionsFromConfig, type UsersService } from '../../src/users/service.js';
import { injectJson, type Res } from './inject.js';

export const NOW = 1_700_000_000_000;
export const SERVER = 'test.local';

export interface UsersHarness {
  app: FastifyInstance;
  users: UsersService;
  db: Database;
  config: Config;
  clock: { now: number };
  req(method: InjectOptions['method'], url: string, opts?: { token?: string; body?: unknown; rawBody?: string }): Promise<Res>;
  /** Registers through the matrix-nio flow (dummy auth on the first request); returns the login body. */
  register(username: string, password?: string, extra?: Record<string, unknown>): Promise<Session>;
  login(user: string, password: string, extra?: Record<string, unknown>): Promise<Session>;
  close(): Promise<void>;
}

export type { Res } from './inject.js';

export interface Session {
  user_id: string;
  access_token: string;
  device_id: string;
  refresh_token?: string;
  expires_in_ms?: number;
  home_server?: string;
}

export async function usersHarness(
  configOverrides: Record<string, unknown> = {},
  opts: { refreshableAccessTokenLifetimeMs?: number } = {},
): Promise<UsersHarness> {
  const config = parseConfig(
    { server_name: SERVER, enable_registration: true, ...configOverrides },
    { cwd: '/nonexistent' },
  ).config;
  const db = openDatabase(':memory:');
  const clock = { now: NOW };
  const users = createUsersService({
    ...usersOptionsFromConfig(db, config, () => clock.now),
    ...opts,
    onHookError: (hook, err) => {
      throw new Error(`hook ${hook} failed: ${String(err)}`);
    },
  });
  const app = buildApp({ config, serverKeys: { current: generateSigningKey('t1'), old: [] }, clock: () => clock.now, users });
  await app.ready();

  async function req(method: InjectOptions['method'], url: string, o: { token?: string; body?: unknown; rawBody?: string } = {}): Promise<Res> {
    return injectJson(app, method, url, o);
  }

  async function register(username: string, password = 'correct horse', extra: Record<string, unknown> = {}): Promise<Session> {
    const r = await req('POST', '/_matrix/client/v3/register', {
      body: { username, password, auth: { type: 'm.login.dummy' }, ...extra },
    });
    if (r.status !== 200) throw new Error(`register ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as Session;
  }

  async function login(user: string, password: string, extra: Record<string, unknown> = {}): Promise<Session> {
    const r = await req('POST', '/_matrix/client/v3/login', {
      body: { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password, ...extra },
    });
    if (r.status !== 200) throw new Error(`login ${user}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as Session;
  }

  return {
    app,
    users,
    db,
    config,
    clock,
    req,
    register,
    login,
    async close() {
      await app.close();
      db.close();
    },
  };
}

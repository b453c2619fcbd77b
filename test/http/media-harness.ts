// Test harness for the media endpoints: an app over a temp-file database and a temp media store
// with the users and media services, a settable clock, registered users, and request helpers that
// send raw bodies (buffers or streams) the way clients upload files.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { buildApp } from '../../src/http/app.js';
import { createMediaService, type MediaService } from '../../src/media/index.js';
import type { RemoteMediaFetcher } from '../../src/media/repository.js';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createUsersService, usersOptionsFromConfig, type UsersService } from '../../src/users/service.js';

export const NOW = 1_700_000_000_000;
export const SERVER = 'media.test';

export interface MediaRes {
  status: number;
  headers: LightMyRequestResponse['headers'];
  /** The body as bytes. */
  raw: Buffer;
  /** The JSON body when the response is JSON, else {}. */
  json: Record<string, any>;
}

export interface MediaHarness {
  app: FastifyInstance;
  db: Database;
  config: Config;
  media: MediaService;
  users: UsersService;
  clock: { now: number };
  storeDir: string;
  req(
    method: InjectOptions['method'],
    url: string,
    opts?: { token?: string; body?: Buffer | string | Readable; headers?: Record<string, string> },
  ): Promise<MediaRes>;
  /** Registers a user and returns the access token. */
  register(username: string): Promise<string>;
  /** Uploads bytes through POST /_matrix/media/v3/upload; returns the mxc URI's server name and media ID. */
  upload(token: string, body: Buffer | string, contentType?: string, fileName?: string): Promise<{ server: string; mediaId: string; uri: string }>;
  close(): Promise<void>;
}

export async function mediaHarness(
  configOverrides: Record<string, unknown> = {},
  opts: { remoteFetcher?: RemoteMediaFetcher; previewTimeoutMs?: number } = {},
): Promise<MediaHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'media-test-'));
  const storeDir = join(dir, 'media_store');
  const config = parseConfig(
    { server_name: SERVER, enable_registration: true, rate_limiting: false, media_store_path: storeDir, ...configOverrides },
    { cwd: dir },
  ).config;
  const db = openDatabase(join(dir, 'homeserver.db'));
  const clock = { now: NOW };
  const users = createUsersService({
    ...usersOptionsFromConfig(db, config, () => clock.now),
    onHookError: (hook, err) => {
      throw new Error(`hook ${hook} failed: ${String(err)}`);
    },
  });
  const media = createMediaService({
    db,
    config,
    clock: () => clock.now,
    ...(opts.remoteFetcher ? { remoteFetcher: opts.remoteFetcher } : {}),
    ...(opts.previewTimeoutMs !== undefined ? { previewTimeoutMs: opts.previewTimeoutMs } : {}),
  });
  const app = buildApp({ config, serverKeys: { current: generateSigningKey('t1'), old: [] }, clock: () => clock.now, users, media });
  await app.ready();

  async function req(
    method: InjectOptions['method'],
    url: string,
    o: { token?: string; body?: Buffer | string | Readable; headers?: Record<string, string> } = {},
  ): Promise<MediaRes> {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    const res = await app.inject({ method, url, headers, ...(o.body !== undefined ? { payload: o.body } : {}) });
    const raw = res.rawPayload;
    let json: Record<string, any> = {};
    if (raw.length > 0 && String(res.headers['content-type'] ?? '').includes('application/json')) json = JSON.parse(raw.toString('utf8'));
    return { status: res.statusCode, headers: res.headers, raw, json };
  }

  async function register(username: string): Promise<string> {
    const r = await req('POST', '/_matrix/client/v3/register', {
      body: JSON.stringify({ username, password: 'correct horse', auth: { type: 'm.login.dummy' } }),
      headers: { 'content-type': 'application/json' },
    });
    if (r.status !== 200) throw new Error(`register ${username}: ${r.status} ${r.raw.toString()}`);
    return r.json.access_token as string;
  }

  async function upload(token: string, body: Buffer | string, contentType = 'application/octet-stream', fileName?: string) {
    const q = fileName !== undefined ? `?filename=${encodeURIComponent(fileName)}` : '';
    const r = await req('POST', `/_matrix/media/v3/upload${q}`, { token, body, headers: { 'content-type': contentType } });
    if (r.status !== 200) throw new Error(`upload: ${r.status} ${r.raw.toString()}`);
    const uri = r.json.content_uri as string;
    const m = /^mxc:\/\/([^/]+)\/([A-Za-z0-9_-]+)$/.exec(uri);
    if (!m) throw new Error(`bad content_uri ${uri}`);
    return { server: m[1]!, mediaId: m[2]!, uri };
  }

  return {
    app,
    db,
    config,
    media,
    users,
    clock,
    storeDir,
    req,
    register,
    upload,
    async close() {
      await app.close();
      await media.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

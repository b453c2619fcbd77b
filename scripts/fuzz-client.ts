// Hostile-input sweep of the client-server API: starts a fully wired server and sends every
// client-server endpoint of the spec (shared/spec/endpoints.json) malformed bodies, wrongly typed
// properties (names from the spec's OpenAPI request schemas), junk path and query parameters. Prints
// every answer with status >= 500, every error answer that is not JSON, and every request slower
// than 5 s. Not part of `npm test`: a probe to run by hand after changing request handling.
// Usage: npx tsx scripts/fuzz-client.ts [path/to/shared/spec] [endpoint filter substring]
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig } from '../src/config/load.js';
import { startServer } from '../src/server.js';
import { specOperation } from './spec-openapi.js';

const specDir = process.argv[2] ?? join(import.meta.dirname, '../../shared/spec');
const only = process.argv[3];
const endpoints = (JSON.parse(readFileSync(join(specDir, 'endpoints.json'), 'utf8')) as { api: string; method: string; path: string; file: string }[]).filter(
  (e) => e.api === 'client-server' && (!only || e.path.includes(only)),
);

const dir = mkdtempSync(join(tmpdir(), 'fuzz-client-'));
const PORT = 18700 + Math.floor(Math.random() * 200);
const SERVER = `localhost:${PORT}`;
const { config } = parseConfig(
  {
    server_name: SERVER,
    database: { name: 'sqlite3', args: { database: join(dir, 'db.sqlite') } },
    signing_key_path: join(dir, 'signing.key'),
    media_store_path: join(dir, 'media'),
    enable_registration: true,
    allow_guest_access: true,
    rate_limiting: false,
    url_preview_enabled: true,
    registration_shared_secret: 'secret',
    listeners: [{ port: PORT, bind_addresses: ['127.0.0.1'], type: 'http', resources: [{ names: ['client', 'federation', 'keys', 'media'] }] }],
  },
  { cwd: dir },
);
const logged: string[] = [];
const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(line) });
const server = await startServer(config, logger);
const base = server.addresses[0]!.url;

interface Answer {
  status: number;
  text: string;
  ms: number;
}
async function call(method: string, path: string, opts: { token?: string; body?: string; contentType?: string } = {}): Promise<Answer> {
  const started = performance.now();
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  try {
    const res = await fetch(base + path, { method, headers, body: opts.body, signal: AbortSignal.timeout(20_000) });
    const text = await res.text();
    return { status: res.status, text, ms: performance.now() - started };
  } catch (e) {
    return { status: 599, text: `fetch failed: ${(e as Error).message}`, ms: performance.now() - started };
  }
}

async function json(method: string, path: string, token: string | undefined, body?: unknown): Promise<any> {
  const r = await call(method, path, { token, body: body === undefined ? undefined : JSON.stringify(body) });
  try {
    return JSON.parse(r.text);
  } catch {
    throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
  }
}

interface World {
  user: string;
  token: string;
  device: string;
  roomId: string;
  eventId: string;
  alias: string;
  filterId: string;
  mediaId: string;
}
let counter = 0;
async function world(): Promise<World> {
  const name = `u${++counter}`;
  const reg = await json('POST', '/_matrix/client/v3/register', undefined, { username: name, password: 'pw-' + name, auth: { type: 'm.login.dummy' } });
  const token = reg.access_token as string;
  const alias = `a${counter}`;
  const room = await json('POST', '/_matrix/client/v3/createRoom', token, { preset: 'public_chat', room_alias_name: alias, name: 'r' });
  const ev = await json('PUT', `/_matrix/client/v3/rooms/${encodeURIComponent(room.room_id)}/send/m.room.message/t1`, token, { msgtype: 'm.text', body: 'hi' });
  const filter = await json('POST', `/_matrix/client/v3/user/${encodeURIComponent(reg.user_id)}/filter`, token, { room: { timeline: { limit: 5 } } });
  const up = await call('POST', '/_matrix/media/v3/upload', { token, body: 'hello', contentType: 'text/plain' });
  const mediaId = String(JSON.parse(up.text).content_uri ?? '').split('/').pop() ?? 'x';
  return { user: reg.user_id, token, device: reg.device_id, roomId: room.room_id, eventId: ev.event_id, alias: `#${alias}:${SERVER}`, filterId: filter.filter_id, mediaId };
}

/** A sensible value for each path parameter, by its name. */
function goodParam(name: string, w: World): string {
  const n = name.toLowerCase();
  if (n.includes('alias')) return w.alias;
  if (n === 'roomidoralias') return w.roomId;
  if (n.includes('userid')) return w.user;
  if (n.includes('roomid')) return w.roomId;
  if (n.includes('eventid')) return w.eventId;
  if (n.includes('deviceid')) return w.device;
  if (n.includes('filterid')) return w.filterId;
  if (n.includes('txnid')) return `txn${Math.random()}`;
  if (n === 'servername') return SERVER;
  if (n === 'mediaid') return w.mediaId;
  if (n === 'eventtype' || n === 'type') return 'org.example.fuzz';
  if (n === 'statekey') return '';
  if (n === 'reltype') return 'm.annotation';
  if (n === 'receipttype') return 'm.read';
  if (n === 'scope') return 'global';
  if (n === 'kind') return 'override';
  if (n === 'ruleid') return '.m.rule.master';
  if (n === 'attribute') return 'enabled';
  if (n === 'tag') return 'u.work';
  if (n === 'version') return '1';
  if (n === 'keyid' || n === 'algorithm') return 'x';
  if (n === 'width' || n === 'height') return '32';
  return 'x';
}
const JUNK_PARAMS = ['', 'x'.repeat(5000), '%FF', '%00', '..%2F..', '%F0%9F%98', '!', '@', '$', '#:', '%5Cu0000'];

const JUNK_VALUES: unknown[] = [
  'str',
  '',
  0,
  -1,
  1.5,
  2 ** 60,
  -(2 ** 60),
  true,
  null,
  [],
  ['a', 1, null, {}],
  {},
  { a: { b: { c: 1 } } },
  'x'.repeat(100_000),
  '\u0000',
  '@',
  '!:',
];
const RAW_BODIES = ['', '[]', 'null', '"x"', '1', '{}', '{"a":', '{"a":1}{', '\u00ff', '{"a":"\\ud800"}', '[' .repeat(5000) + ']'.repeat(5000), '{"__proto__":{"x":1},"constructor":{"prototype":{}}}'];

const problems: string[] = [];
function judge(what: string, a: Answer): void {
  if (a.status >= 500) problems.push(`${a.status} ${what} -> ${a.text.slice(0, 300)}`);
  else if (a.status >= 400) {
    try {
      const b = JSON.parse(a.text);
      // A user-interactive auth challenge (401 with flows) carries no errcode before a first attempt.
      if (typeof b.errcode !== 'string' && !(a.status === 401 && Array.isArray(b.flows))) problems.push(`no errcode ${a.status} ${what} -> ${a.text.slice(0, 200)}`);
    } catch {
      problems.push(`non-JSON ${a.status} ${what} -> ${a.text.slice(0, 200)}`);
    }
  }
  if (a.ms > 5000) problems.push(`slow ${Math.round(a.ms)} ms ${what}`);
}

let requests = 0;
for (const e of endpoints) {
  const w = await world();
  const { bodyProps, queryParams, nested } = specOperation(specDir, e);
  const params = [...e.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  const fill = (overrides: Record<string, string> = {}) =>
    e.path.replace(/\{([^}]+)\}/g, (_, n: string) => (n in overrides ? overrides[n]! : encodeURIComponent(goodParam(n, w))));
  const hasBody = e.method !== 'GET' && e.method !== 'DELETE';
  const path = fill();
  // Long-polls answer at once with timeout=0 (other query tests replace it).
  const longPoll = queryParams.includes('timeout') && e.method === 'GET';
  const send = async (label: string, p: string, body?: string, token: string | null = w.token) => {
    requests++;
    const target = longPoll && !p.includes('timeout=') ? `${p}${p.includes('?') ? '&' : '?'}timeout=0` : p;
    judge(`${e.method} ${target.slice(0, 160)} ${label}`, await call(e.method, target, { token: token ?? undefined, body }));
  };
  // Raw and generic bodies.
  if (hasBody) for (const raw of RAW_BODIES) await send(`body ${JSON.stringify(raw.slice(0, 30))}`, path, raw);
  else await send('plain', path);
  await send('no token', path, hasBody ? '{}' : undefined, null);
  await send('bad token', path, hasBody ? '{}' : undefined, 'syt_bad');
  // Each body property with each wrong type.
  for (const prop of bodyProps) {
    for (const v of JUNK_VALUES) await send(`${prop}=${JSON.stringify(v)?.slice(0, 30)}`, path, JSON.stringify({ [prop]: v }));
  }
  // Nested properties (schema paths), each with each wrong type.
  for (const n of nested) {
    for (const v of JUNK_VALUES) await send(`${n.path.join('.')}=${JSON.stringify(v)?.slice(0, 30)}`, path, JSON.stringify(n.body(v)));
  }
  // All properties junk at once, a few ways.
  if (bodyProps.length) for (const v of JUNK_VALUES) await send(`all=${JSON.stringify(v)?.slice(0, 30)}`, path, JSON.stringify(Object.fromEntries(bodyProps.map((p) => [p, v]))));
  // Query parameters.
  for (const q of queryParams) {
    for (const v of [
      '-1', 'abc', '1e309', '', 'x'.repeat(5000), '%FF', '0', '99999999999999999999', 'true', '{"a":1}', '[]',
      encodeURIComponent('{"room":{"timeline":{"limit":-1}}}'), encodeURIComponent('{"room":{"rooms":"x","not_rooms":[5]}}'),
      encodeURIComponent('{"event_fields":[5],"event_format":"x"}'), encodeURIComponent('{"room":{"state":{"lazy_load_members":"yes","types":[null]}}}'),
      encodeURIComponent('{"room":5,"presence":[],"account_data":{"limit":1.5}}'), encodeURIComponent('{"types":"m.room.message","limit":1e400}'),
    ]) {
      await send(`?${q}=${v.slice(0, 20)}`, `${path}?${q}=${v}`, hasBody ? '{}' : undefined);
    }
    await send(`?${q} repeated`, `${path}?${q}=1&${q}=2`, hasBody ? '{}' : undefined);
  }
  // Path parameters.
  for (const p of params) for (const v of JUNK_PARAMS) await send(`{${p}}=${v.slice(0, 20)}`, fill({ [p]: v }), hasBody ? '{}' : undefined);
}

// Synapse's admin API (not in the spec's list), as an admin made by shared-secret registration.
{
  const { createHmac } = await import('node:crypto');
  const { nonce } = await json('GET', '/_synapse/admin/v1/register', undefined);
  const mac = createHmac('sha1', 'secret').update(`${nonce}\0root\0pw-root\0admin`).digest('hex');
  const root = await json('POST', '/_synapse/admin/v1/register', undefined, { nonce, username: 'root', password: 'pw-root', admin: true, mac });
  const w = await world();
  const ADMIN: { method: string; path: string; props: string[]; query: string[] }[] = [
    { method: 'GET', path: '/v1/rooms', props: [], query: ['from', 'limit', 'order_by', 'dir', 'search_term', 'public_rooms', 'empty_rooms'] },
    { method: 'GET', path: '/v1/rooms/{roomId}', props: [], query: [] },
    { method: 'GET', path: '/v1/rooms/{roomId}/members', props: [], query: [] },
    { method: 'GET', path: '/v2/users', props: [], query: ['from', 'limit', 'order_by', 'dir', 'name', 'user_id', 'guests', 'deactivated', 'admins'] },
    { method: 'GET', path: '/v2/users/{userId}', props: [], query: [] },
    { method: 'PUT', path: '/v2/users/{userId}', props: ['password', 'logout_devices', 'displayname', 'avatar_url', 'threepids', 'external_ids', 'admin', 'deactivated', 'locked', 'user_type'], query: [] },
    { method: 'POST', path: '/v1/reset_password/{userId}', props: ['new_password', 'logout_devices'], query: [] },
    { method: 'GET', path: '/v1/users/{userId}/joined_rooms', props: [], query: [] },
    { method: 'GET', path: '/v1/users/{userId}/media', props: [], query: ['from', 'limit', 'order_by', 'dir'] },
    { method: 'GET', path: '/v1/whois/{userId}', props: [], query: [] },
    { method: 'POST', path: '/v1/deactivate/{userId}', props: ['erase'], query: [] },
    { method: 'POST', path: '/v1/register', props: ['nonce', 'username', 'password', 'admin', 'mac', 'displayname', 'user_type'], query: [] },
    { method: 'GET', path: '/v1/server_version', props: [], query: [] },
  ];
  for (const e of ADMIN) {
    const fill = (junk?: string) => `/_synapse/admin${e.path.replace(/\{(\w+)\}/g, (_, n: string) => junk ?? encodeURIComponent(goodParam(n, w)))}`;
    const hasBody = e.method !== 'GET';
    const send = async (label: string, p: string, body?: string) => {
      requests++;
      judge(`${e.method} ${p.slice(0, 160)} ${label}`, await call(e.method, p, { token: root.access_token, body }));
    };
    if (hasBody) for (const raw of RAW_BODIES) await send(`body ${JSON.stringify(raw.slice(0, 30))}`, fill(), raw);
    else await send('plain', fill());
    for (const prop of e.props) for (const v of JUNK_VALUES) await send(`${prop}=${JSON.stringify(v)?.slice(0, 30)}`, fill(), JSON.stringify({ [prop]: v }));
    for (const q of e.query) {
      for (const v of ['-1', 'abc', '1e309', '', 'x'.repeat(5000), '%FF', '0', '99999999999999999999', 'true']) await send(`?${q}=${v.slice(0, 20)}`, `${fill()}?${q}=${v}`, hasBody ? '{}' : undefined);
    }
    if (e.path.includes('{')) for (const v of JUNK_PARAMS) await send(`param=${v.slice(0, 20)}`, fill(v), hasBody ? '{}' : undefined);
  }
}

await server.close();
const serverErrors = logged.filter((l) => /"level":(50|60)/.test(l));
console.log(`${requests} requests to ${endpoints.length} endpoints`);
console.log(problems.length ? `problems (${problems.length}):\n${problems.join('\n')}` : 'no problems');
if (serverErrors.length) console.log(`server errors logged (${serverErrors.length}):\n${serverErrors.slice(0, 50).map((l) => l.slice(0, 600)).join('\n')}`);
process.exit(0);

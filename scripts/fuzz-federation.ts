// Hostile-input sweep of the server-server API: starts a fully wired server (as server.ts does) and,
// as an authenticated remote server (remote.test, whose signing key is put in our key store before
// the server starts, so every request below passes X-Matrix), sends every server-server endpoint of
// the spec (shared/spec/endpoints.json) malformed bodies, wrongly typed properties (names from the
// spec's OpenAPI request schemas), junk path and query parameters, and /send transactions with
// malformed PDUs and EDUs of every kind. The remote joins a room of ours first (make_join/send_join),
// so path parameters can be real room, event, user and media IDs. Prints every answer with status
// >= 500, every error answer that is not JSON with an errcode, every request slower than 5 s, every
// request refused 401 (the probe failed to sign it, so its handler went untested), and every error
// the server logged. Further sections: concurrency, odd headers, a real image thumbnailed at every
// size, notary fan-out, unknown prev_events, oversized key queries ("misc"), and events that are
// valid alone but might break the room afterwards ("poison"). Ends with a check that the server
// still works (a good event is accepted and reaches /sync).
// Not part of `npm test`: a probe to run by hand after changing federation request handling.
// Usage: npx tsx scripts/fuzz-federation.ts [path/to/shared/spec] [endpoint filter substring | send | misc | poison]
//   FUZZ_VERBOSE=1: also answers per endpoint/status, error texts, warnings logged.
//   FUZZ_ACCEPTED=1: also lists the junk PDUs and membership events that were accepted.
// Outbound requests (key fetches, missing events) go to names that do not resolve; with a resolver
// that answers those slowly, the "50 PDUs of 50 unknown servers" /send can exceed 5 s (see its note).
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig } from '../src/config/load.js';
import { generateSigningKey } from '../src/core/crypto/ed25519.js';
import { computeEventId } from '../src/core/events/hashes.js';
import { requireRoomVersion } from '../src/core/events/room-versions.js';
import { hashAndSignEvent } from '../src/core/events/signing.js';
import { parseJson } from '../src/core/json/parse.js';
import type { JsonObject, JsonValue } from '../src/core/json/types.js';
import { KeyStore } from '../src/federation/key-store.js';
import { signRequest } from '../src/federation/x-matrix.js';
import { startServer } from '../src/server.js';
import { openDatabase } from '../src/store/db.js';
import { specOperation } from './spec-openapi.js';

const specDir = process.argv[2] ?? join(import.meta.dirname, '../../shared/spec');
const only = process.argv[3];
const endpoints = (JSON.parse(readFileSync(join(specDir, 'endpoints.json'), 'utf8')) as { api: string; method: string; path: string; file: string }[]).filter(
  (e) => e.api === 'server-server' && (!only || e.path.includes(only)),
);
// Deprecated versions still served (not in endpoints.json).
if (!only || 'v1/send_join'.includes(only) || 'v1/send_leave'.includes(only)) {
  endpoints.push(
    { api: 'server-server', method: 'PUT', path: '/_matrix/federation/v1/send_join/{roomId}/{eventId}', file: 'data/api/server-server/joins-v1.yaml' },
    { api: 'server-server', method: 'PUT', path: '/_matrix/federation/v1/send_leave/{roomId}/{eventId}', file: 'data/api/server-server/leaving-v1.yaml' },
  );
}

const dir = mkdtempSync(join(tmpdir(), 'fuzz-federation-'));
const PORT = 18900 + Math.floor(Math.random() * 200);
const SERVER = `localhost:${PORT}`;
const REMOTE = 'remote.test';
const REM = `@rem:${REMOTE}`;
const remoteKey = generateSigningKey('k1');
const { config } = parseConfig(
  {
    server_name: SERVER,
    database: { name: 'sqlite3', args: { database: join(dir, 'db.sqlite') } },
    signing_key_path: join(dir, 'signing.key'),
    media_store_path: join(dir, 'media'),
    enable_registration: true,
    rate_limiting: false,
    trusted_key_servers: [],
    listeners: [{ port: PORT, bind_addresses: ['127.0.0.1'], type: 'http', resources: [{ names: ['client', 'federation', 'keys', 'media'] }] }],
  },
  { cwd: dir },
);

// The remote's key, as if fetched from it.
{
  const db = openDatabase(join(dir, 'db.sqlite'));
  const until = Date.now() + 365 * 24 * 3600_000;
  new KeyStore(db).storeResponse(REMOTE, REMOTE, until, Date.now(), JSON.stringify({ server_name: REMOTE, valid_until_ts: until, verify_keys: { [remoteKey.keyId]: { key: remoteKey.publicKey } } }), [
    { keyId: remoteKey.keyId, publicKey: remoteKey.publicKey, validUntilTs: until, expiredTs: null },
  ]);
  db.close();
}

const logged: string[] = [];
const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) });
const server = await startServer(config, logger, { shutdownGraceMs: 1000 });
const base = server.addresses[0]!.url;
const base0 = base;

interface Answer {
  status: number;
  text: string;
  ms: number;
}

/** The JSON value the server will see, for the signature; undefined when the text does not parse. */
function contentOf(body: string | undefined): JsonValue | undefined {
  if (body === undefined || body === '') return undefined;
  try {
    return parseJson(body.startsWith('\ufeff') ? body.slice(1) : body);
  } catch {
    return undefined;
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** One request over plain HTTP (node:http, so GET may carry a body and the path goes out as written). */
async function call(method: string, path: string, opts: { body?: string; contentType?: string; unsigned?: boolean } = {}): Promise<Answer> {
  const started = performance.now();
  const headers: Record<string, string> = {};
  const uri = path.split('#')[0]!;
  if (!opts.unsigned) {
    try {
      // A GET's body is not part of what it signs (servers do not read it).
      const content = method === 'GET' ? undefined : contentOf(opts.body);
      headers.authorization = signRequest({ method, uri, origin: REMOTE, destination: SERVER, content }, remoteKey);
    } catch {
      // Content we cannot sign (too deep for canonical JSON): a signature over no content.
      headers.authorization = signRequest({ method, uri, origin: REMOTE, destination: SERVER }, remoteKey);
    }
  }
  const payload = opts.body === undefined ? undefined : Buffer.from(opts.body);
  if (payload !== undefined) {
    headers['content-type'] = opts.contentType ?? 'application/json';
    headers['content-length'] = String(payload.length);
  }
  const url = new URL(base);
  return new Promise<Answer>((resolveAnswer) => {
    const done = (status: number, text: string) => resolveAnswer({ status, text, ms: performance.now() - started });
    const req = http.request({ host: url.hostname, port: url.port, method, path: uri, headers, agent, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
      res.on('error', (e) => done(599, `response failed: ${e.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout after 20 s')));
    req.on('error', (e) => done(599, `request failed: ${e.message}`));
    req.end(payload);
  });
}

/** A request with headers of our own (signed over the body when it is JSON). */
async function rawCall(method: string, path: string, extra: Record<string, string>, body: string | undefined): Promise<Answer> {
  const started = performance.now();
  const content = method === 'GET' || method === 'HEAD' ? undefined : contentOf(body);
  const headers: Record<string, string> = { authorization: signRequest({ method, uri: path, origin: REMOTE, destination: SERVER, content }, remoteKey), ...extra };
  const url = new URL(base);
  return new Promise<Answer>((resolveAnswer) => {
    const done = (status: number, text: string) => resolveAnswer({ status, text, ms: performance.now() - started });
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
      res.on('error', (e) => done(599, `response failed: ${e.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout after 20 s')));
    req.on('error', (e) => done(599, `request failed: ${e.message}`));
    req.end(body);
  });
}

async function clientJson(method: string, path: string, token: string | undefined, body?: unknown): Promise<any> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

async function fedJson(method: string, path: string, body?: unknown): Promise<any> {
  const a = await call(method, path, { body: body === undefined ? undefined : JSON.stringify(body) });
  if (a.status !== 200) throw new Error(`${method} ${path}: ${a.status} ${a.text.slice(0, 300)}`);
  return JSON.parse(a.text);
}

const enc = encodeURIComponent;
const FED = '/_matrix/federation';

// --- The world: alice's public room on our server, joined by @rem over make_join/send_join.
const reg = await clientJson('POST', '/_matrix/client/v3/register', undefined, { username: 'alice', password: 'pw-alice', auth: { type: 'm.login.dummy' } });
const alice = reg.user_id as string;
const token = reg.access_token as string;
const roomId = (await clientJson('POST', '/_matrix/client/v3/createRoom', token, { preset: 'public_chat', room_version: '10', room_alias_name: 'fuzz' })).room_id as string;
const knockRoomId = (await clientJson('POST', '/_matrix/client/v3/createRoom', token, { preset: 'public_chat', room_version: '10', initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'knock' } }] })).room_id as string;
const localEventId = (await clientJson('PUT', `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t1`, token, { msgtype: 'm.text', body: 'hi' })).event_id as string;
const version = requireRoomVersion('10');
let tsCounter = Date.now();
async function joinRemote(user: string): Promise<string> {
  const mj = await fedJson('GET', `${FED}/v1/make_join/${enc(roomId)}/${enc(user)}?ver=10`);
  const signed = hashAndSignEvent({ ...mj.event, origin_server_ts: tsCounter++ }, REMOTE, remoteKey, version);
  const eventId = computeEventId(signed, version);
  await fedJson('PUT', `${FED}/v2/send_join/${enc(roomId)}/${enc(eventId)}`, signed);
  return eventId;
}
const remoteJoinId = await joinRemote(REM);
/** A remote message PDU on the room's current extremity. */
async function remoteMessage(body: string): Promise<{ pdu: JsonObject; eventId: string }> {
  // Build on make_leave's template to learn prev/auth events without reading our store.
  const ml = await fedJson('GET', `${FED}/v1/make_leave/${enc(roomId)}/${enc(REM)}`);
  const t = ml.event as JsonObject;
  const authEvents = (t.auth_events as string[]).filter((id) => id !== undefined);
  const pdu = hashAndSignEvent(
    { type: 'm.room.message', room_id: roomId, sender: REM, content: { msgtype: 'm.text', body }, depth: t.depth as number, origin_server_ts: tsCounter++, prev_events: t.prev_events as string[], auth_events: authEvents } as JsonObject,
    REMOTE,
    remoteKey,
    version,
  );
  return { pdu, eventId: computeEventId(pdu, version) };
}
const m1 = await remoteMessage('hello');
let txnCounter = 0;
await fedJson('PUT', `${FED}/v1/send/t${++txnCounter}`, { origin: REMOTE, origin_server_ts: Date.now(), pdus: [m1.pdu], edus: [] });
const remoteEventId = m1.eventId;
const upload = await fetch(`${base}/_matrix/media/v3/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' }, body: Buffer.from('not really a png') });
const mediaId = String(((await upload.json()) as any).content_uri ?? '').split('/').pop() ?? 'x';

interface World {
  roomId: string;
  eventId: string;
}
const world: World = { roomId, eventId: localEventId };

/** A sensible value for each path parameter, by its name and the endpoint. */
function goodParam(name: string, path: string): string {
  const n = name.toLowerCase();
  if (n === 'roomid') return world.roomId;
  if (n === 'eventid') {
    // send_join etc. want the ID of the event in the body: a fresh one, which the body won't match.
    return path.includes('/send_') || path.includes('/invite') ? `$fuzz${++txnCounter}` : world.eventId;
  }
  if (n === 'userid') return path.includes('/user/devices') ? alice : `@fuzz${txnCounter}:${REMOTE}`;
  if (n === 'txnid') return `txn${++txnCounter}`;
  if (n === 'servername') return SERVER;
  if (n === 'mediaid') return mediaId;
  if (n === 'querytype') return 'profile';
  return 'x';
}
const JUNK_PARAMS = [
  '',
  'x'.repeat(10_000),
  '%FF',
  '%00',
  '..%2F..',
  '%2F',
  '%F0%9F%98',
  '%ED%A0%80',
  '!',
  '@',
  '$',
  '#:',
  '!x',
  '@x',
  '$x',
  '%5Cu0000',
  enc(`!nope:${SERVER}`),
  enc(`@nope:${SERVER}`),
  enc(`$nope`),
  enc(alice),
  enc(REM),
  enc(remoteEventId),
  enc(roomId),
];

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
  [[], {}, [1]],
  {},
  { a: { b: { c: 1 } } },
  'x'.repeat(100_000),
  '\u0000',
  '@',
  '!:',
];
const JUNK_RAW_VALUES = ['"\\ud800"', '"\\u0000"', '1e309', '-0', '1e2', '12345678901234567890', '"\\udfff\\ud800"'];
const DEEP = '['.repeat(100_000) + ']'.repeat(100_000);
const DEEP_OBJ = '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000);
const RAW_BODIES = ['', '[]', 'null', '"x"', '1', '{}', '{"a":', '{"a":1}{', '\u00ff', '{"a":"\\ud800"}', DEEP, DEEP_OBJ, '{"__proto__":{"x":1},"constructor":{"prototype":{}}}'];

const problems: string[] = [];
const unauthenticated: string[] = [];
function judge(what: string, a: Answer): void {
  if (a.status >= 500) problems.push(`${a.status} ${what} -> ${a.text.slice(0, 300)}`);
  else if (a.status >= 400) {
    try {
      const b = JSON.parse(a.text);
      if (typeof b.errcode !== 'string') problems.push(`no errcode ${a.status} ${what} -> ${a.text.slice(0, 200)}`);
      else if (a.status === 401 && b.errcode === 'M_UNAUTHORIZED') unauthenticated.push(`${what} -> ${a.text.slice(0, 120)}`);
    } catch {
      problems.push(`non-JSON ${a.status} ${what} -> ${a.text.slice(0, 200)}`);
    }
  } else if (a.status >= 200 && a.status < 300 && a.text.length > 0) {
    const ct = a.text.trimStart()[0];
    if (ct === '{' || ct === '[') {
      try {
        JSON.parse(a.text);
      } catch {
        problems.push(`invalid JSON 2xx ${what} -> ${a.text.slice(0, 200)}`);
      }
    }
  }
  if (a.ms > 5000) problems.push(`slow ${Math.round(a.ms)} ms ${what}`);
}

let requests = 0;
/** Answers per endpoint (or probe section) and status, to see that handlers were reached. */
const histogram = new Map<string, Map<string, number>>();
let section = '';
const errorTexts = new Map<string, Map<string, number>>();
async function send(label: string, method: string, p: string, body?: string): Promise<Answer> {
  requests++;
  const a = await call(method, p, { body });
  let h = histogram.get(section);
  if (!h) histogram.set(section, (h = new Map()));
  let key = String(a.status);
  if (a.status >= 400) {
    try {
      key += ` ${JSON.parse(a.text).errcode}`;
    } catch {
      /* judged below */
    }
  }
  h.set(key, (h.get(key) ?? 0) + 1);
  if (process.env.FUZZ_ACCEPTED && a.status === 200 && /^(membership|invite|\/send pdus)/.test(section)) {
    let accepted = true;
    if (section === '/send pdus') {
      try {
        const results = Object.values(JSON.parse(a.text).pdus ?? {}) as { error?: string }[];
        accepted = results.some((r) => r.error === undefined);
      } catch {
        accepted = false;
      }
    }
    if (accepted) console.log(`accepted: ${section}: ${label}`);
  }
  if (a.status >= 400) {
    let m = errorTexts.get(section);
    if (!m) errorTexts.set(section, (m = new Map()));
    let msg = a.text.slice(0, 160);
    try {
      msg = `${a.status} ${String(JSON.parse(a.text).error).replace(/[!$@#][^\s:"']+(:[^\s"']+)?/g, '<id>').slice(0, 140)}`;
    } catch {
      /* raw */
    }
    m.set(msg, (m.get(msg) ?? 0) + 1);
  }
  judge(`${method} ${p.slice(0, 160)} ${label}`, a);
  return a;
}

/** Good query parameters per endpoint, so that junk in one of them (or elsewhere) reaches the handler. */
function goodQuery(path: string): Record<string, string> {
  if (path.includes('/backfill/')) return { v: localEventId, limit: '10' };
  if (path.includes('/state/') || path.includes('/state_ids/')) return { event_id: localEventId };
  if (path.includes('/timestamp_to_event/')) return { ts: String(Date.now()), dir: 'b' };
  if (path.includes('/make_join/') || path.includes('/make_knock/')) return { ver: '10' };
  if (path.includes('/media/thumbnail/')) return { width: '32', height: '32', method: 'scale' };
  if (path.endsWith('/query/{queryType}') || path.endsWith('/query/profile')) return { user_id: alice };
  if (path.endsWith('/query/directory')) return { room_alias: `#fuzz:${SERVER}` };
  if (path.endsWith('/publicRooms')) return { limit: '5' };
  if (path.includes('/hierarchy/')) return { suggested_only: 'false' };
  if (path.includes('/key/v2/query/')) return { minimum_valid_until_ts: '1' };
  return {};
}
const queryString = (q: Record<string, string>, raw: Record<string, string> = {}) => {
  const parts = [...Object.entries(q).filter(([k]) => !(k in raw)).map(([k, v]) => `${k}=${enc(v)}`), ...Object.entries(raw).map(([k, v]) => `${k}=${v}`)];
  return parts.length ? `?${parts.join('&')}` : '';
};

for (const e of endpoints) {
  section = `${e.method} ${e.path}`;
  const { bodyProps, queryParams } = specOperation(specDir, e);
  const params = [...e.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  const good = goodQuery(e.path);
  const fillPath = (overrides: Record<string, string> = {}) =>
    e.path.replace(/\{([^}]+)\}/g, (_, n: string) => (n in overrides ? overrides[n]! : enc(goodParam(n, e.path))));
  const fill = (overrides: Record<string, string> = {}) => fillPath(overrides) + queryString(good);
  const hasBody = e.method !== 'GET' && e.method !== 'DELETE';
  // Raw and generic bodies.
  if (hasBody) for (const raw of RAW_BODIES) await send(`body ${JSON.stringify(raw.slice(0, 30))}`, e.method, fill(), raw);
  else {
    await send('plain', e.method, fill());
    await send('with body {}', e.method, fill(), '{}');
  }
  // Each body property with each wrong type.
  for (const prop of bodyProps) {
    for (const v of JUNK_VALUES) await send(`${prop}=${JSON.stringify(v)?.slice(0, 30)}`, e.method, fill(), JSON.stringify({ [prop]: v }));
    for (const raw of JUNK_RAW_VALUES) await send(`${prop}=${raw}`, e.method, fill(), `{${JSON.stringify(prop)}:${raw}}`);
  }
  // All properties junk at once.
  if (bodyProps.length) {
    for (const v of JUNK_VALUES) await send(`all=${JSON.stringify(v)?.slice(0, 30)}`, e.method, fill(), JSON.stringify(Object.fromEntries(bodyProps.map((p) => [p, v]))));
  }
  // Query parameters.
  const qs = new Set([...queryParams, ...Object.keys(good), 'limit', 'v', 'ver']);
  for (const q of qs) {
    for (const v of ['-1', 'abc', '1e309', '', 'x'.repeat(5000), '%FF', '%00', '0', '99999999999999999999', '1.5', 'true', '{"a":1}', '[]', enc(localEventId), 'junk']) {
      await send(`?${q}=${v.slice(0, 20)}`, e.method, fillPath() + queryString(good, { [q]: v }), hasBody ? '{}' : undefined);
    }
    await send(`?${q} repeated`, e.method, fillPath() + queryString(good, { [q]: `1&${q}=2` }), hasBody ? '{}' : undefined);
    await send(`?${q} missing`, e.method, fillPath() + queryString(Object.fromEntries(Object.entries(good).filter(([k]) => k !== q))), hasBody ? '{}' : undefined);
  }
  // Path parameters.
  for (const p of params) for (const v of JUNK_PARAMS) await send(`{${p}}=${v.slice(0, 20)}`, e.method, fill({ [p]: v }), hasBody ? '{}' : undefined);
}

// --- /send with malformed PDUs and EDUs inside.
const sendPath = () => `${FED}/v1/send/fz${++txnCounter}`;
const txn = (pdus: unknown[], edus: unknown[]) => JSON.stringify({ origin: REMOTE, origin_server_ts: Date.now(), pdus, edus });
if (!only || 'send'.includes(only) || only === '/send') {
  const EDU_TYPES = ['m.typing', 'm.receipt', 'm.presence', 'm.device_list_update', 'm.signing_key_update', 'm.direct_to_device', 'org.example.unknown'];
  const goodEdus: Record<string, JsonObject> = {
    'm.typing': { room_id: roomId, user_id: REM, typing: true },
    'm.receipt': { [roomId]: { 'm.read': { [REM]: { event_ids: [remoteEventId], data: { ts: 1 } } } } },
    'm.presence': { push: [{ user_id: REM, presence: 'online', last_active_ago: 5, currently_active: true, status_msg: 'x' }] },
    'm.device_list_update': { user_id: REM, device_id: 'D', stream_id: 1, prev_id: [], deleted: false, keys: { user_id: REM, device_id: 'D', algorithms: [], keys: {}, signatures: {} } },
    'm.signing_key_update': { user_id: REM, master_key: { user_id: REM, usage: ['master'], keys: { 'ed25519:x': 'x' } } },
    'm.direct_to_device': { sender: REM, type: 'm.x', message_id: 'm1', messages: { [alice]: { '*': { a: 1 } } } },
    'org.example.unknown': { a: 1 },
  };
  for (const t of EDU_TYPES) {
    section = `/send edu ${t}`;
    await send(`edu ${t} good`, 'PUT', sendPath(), txn([], [{ edu_type: t, content: goodEdus[t] }]));
    for (const v of JUNK_VALUES) await send(`edu ${t} content=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', sendPath(), txn([], [{ edu_type: t, content: v }]));
    await send(`edu ${t} no content`, 'PUT', sendPath(), txn([], [{ edu_type: t }]));
    // Each property of the good content, and one level below, with each wrong type.
    const good = goodEdus[t]!;
    for (const [k, gv] of Object.entries(good)) {
      for (const v of JUNK_VALUES) await send(`edu ${t} ${k}=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', sendPath(), txn([], [{ edu_type: t, content: { ...good, [k]: v } }]));
      for (const raw of JUNK_RAW_VALUES) {
        const text = JSON.stringify({ edu_type: t, content: { ...good, [k]: '__RAW__' } }).replace('"__RAW__"', raw);
        await send(`edu ${t} ${k}=${raw}`, 'PUT', sendPath(), `{"origin":"${REMOTE}","origin_server_ts":1,"pdus":[],"edus":[${text}]}`);
      }
      if (gv && typeof gv === 'object' && !Array.isArray(gv)) {
        for (const [k2, gv2] of Object.entries(gv as JsonObject)) {
          for (const v of JUNK_VALUES) {
            await send(`edu ${t} ${k}.${k2}=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', sendPath(), txn([], [{ edu_type: t, content: { ...good, [k]: { ...(gv as JsonObject), [k2]: v } } }]));
          }
          if (gv2 && typeof gv2 === 'object' && !Array.isArray(gv2)) {
            for (const [k3, gv3] of Object.entries(gv2 as JsonObject)) {
              for (const v of JUNK_VALUES) {
                const inner = { ...(gv2 as JsonObject), [k3]: v };
                await send(`edu ${t} ${k}.${k2}.${k3}=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', sendPath(), txn([], [{ edu_type: t, content: { ...good, [k]: { ...(gv as JsonObject), [k2]: inner } } }]));
              }
              if (gv3 && typeof gv3 === 'object' && !Array.isArray(gv3)) {
                for (const [k4] of Object.entries(gv3 as JsonObject)) {
                  for (const v of JUNK_VALUES) {
                    const inner3 = { ...(gv3 as JsonObject), [k4]: v };
                    const inner = { ...(gv2 as JsonObject), [k3]: inner3 };
                    await send(`edu ${t} ${k}.${k2}.${k3}.${k4}=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', sendPath(), txn([], [{ edu_type: t, content: { ...good, [k]: { ...(gv as JsonObject), [k2]: inner } } }]));
                  }
                }
              }
            }
          }
        }
      }
      if (Array.isArray(gv) && gv[0] && typeof gv[0] === 'object') {
        for (const [k2] of Object.entries(gv[0] as JsonObject)) {
          for (const v of JUNK_VALUES) {
            await send(`edu ${t} ${k}[0].${k2}=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', sendPath(), txn([], [{ edu_type: t, content: { ...good, [k]: [{ ...(gv[0] as JsonObject), [k2]: v }] } }]));
          }
        }
      }
    }
  }
  // EDU wrappers and transaction fields of the wrong shape.
  section = '/send wrappers';
  for (const v of JUNK_VALUES) {
    await send(`edus=[${JSON.stringify(v)?.slice(0, 30)}]`, 'PUT', sendPath(), txn([], [v]));
    await send(`edu_type=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', sendPath(), txn([], [{ edu_type: v, content: {} }]));
    await send(`pdus=[${JSON.stringify(v)?.slice(0, 30)}]`, 'PUT', sendPath(), txn([v], []));
  }
  await send('101 edus', 'PUT', sendPath(), txn([], Array.from({ length: 101 }, () => ({ edu_type: 'm.typing', content: goodEdus['m.typing'] }))));
  await send('51 pdus', 'PUT', sendPath(), txn(Array.from({ length: 51 }, () => m1.pdu), []));
  // PDUs: each top-level field of a good PDU with each wrong type (signed after the change, so the
  // signature check passes and later checks run).
  section = '/send pdus';
  const fresh = await remoteMessage('fuzz');
  const unsignedPdu: JsonObject = { ...fresh.pdu };
  delete unsignedPdu.signatures;
  delete unsignedPdu.hashes;
  const pduFields = [...Object.keys(unsignedPdu), 'state_key', 'redacts', 'unsigned', 'origin', 'membership', 'prev_state', 'hashes', 'signatures'];
  for (const k of pduFields) {
    for (const v of JUNK_VALUES) {
      const raw = { ...unsignedPdu, [k]: v } as JsonObject;
      let signed: JsonObject = raw;
      try {
        signed = k === 'hashes' || k === 'signatures' ? { ...hashAndSignEvent(unsignedPdu, REMOTE, remoteKey, version), [k]: v as JsonValue } : hashAndSignEvent(raw, REMOTE, remoteKey, version);
      } catch {
        signed = raw;
      }
      await send(`pdu ${k}=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', sendPath(), txn([signed], []));
      const noSig = { ...raw };
      await send(`pdu unsigned ${k}=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', sendPath(), txn([noSig], []));
    }
    for (const raw of JUNK_RAW_VALUES) {
      const text = JSON.stringify({ ...hashAndSignEvent(unsignedPdu, REMOTE, remoteKey, version), [k]: '__RAW__' }).replace('"__RAW__"', raw);
      await send(`pdu ${k}=${raw}`, 'PUT', sendPath(), `{"origin":"${REMOTE}","origin_server_ts":1,"pdus":[${text}],"edus":[]}`);
    }
  }
  // Content of several event types with junk (state events: power levels, join rules, ...).
  const stateTypes: [string, string, JsonObject][] = [
    ['m.room.power_levels', '', { users: { [REM]: 'x' } }],
    ['m.room.power_levels', '', { users_default: 'x', events: [], ban: 2 ** 60 }],
    ['m.room.power_levels', '', { users: { [REM]: 1.5 }, notifications: { room: 'x' } }],
    ['m.room.join_rules', '', { join_rule: 5 }],
    ['m.room.join_rules', '', { join_rule: 'restricted', allow: 'x' }],
    ['m.room.join_rules', '', { join_rule: 'restricted', allow: [null, 1, { type: 'm.room_membership', room_id: 5 }] }],
    ['m.room.member', REM, { membership: 5 }],
    ['m.room.member', REM, { membership: 'join', displayname: 5, avatar_url: {} }],
    ['m.room.member', REM, { membership: 'join', join_authorised_via_users_server: 5 }],
    ['m.room.member', '', { membership: 'join' }],
    ['m.room.member', 'x', { membership: 'invite', third_party_invite: 'x' }],
    ['m.room.member', `@x:${REMOTE}`, { membership: 'invite', third_party_invite: { signed: 'x' } }],
    ['m.room.member', `@x:${REMOTE}`, { membership: 'invite', third_party_invite: { signed: { mxid: 1, token: {}, signatures: 'x' } } }],
    ['m.room.server_acl', '', { allow: 'x', deny: 5, allow_ip_literals: 'x' }],
    ['m.room.server_acl', '', { allow: [1, null, {}], deny: [[]] }],
    ['m.room.history_visibility', '', { history_visibility: 5 }],
    ['m.room.name', '', { name: 5 }],
    ['m.room.topic', '', { topic: {} }],
    ['m.room.canonical_alias', '', { alias: 5, alt_aliases: 'x' }],
    ['m.room.canonical_alias', '', { alias: 'x', alt_aliases: [5, null] }],
    ['m.room.encryption', '', { algorithm: 5 }],
    ['m.room.avatar', '', { url: 5 }],
    ['m.room.create', '', { creator: 5 }],
    ['m.room.pinned_events', '', { pinned: 'x' }],
    ['m.room.tombstone', '', { replacement_room: 5, body: [] }],
    ['m.room.third_party_invite', 'tok', { public_keys: 'x', public_key: 5 }],
    ['m.space.child', `!x:${REMOTE}`, { via: 'x', order: 5, suggested: 'x' }],
    ['m.space.parent', `!x:${REMOTE}`, { via: [5], canonical: 'x' }],
    ['m.room.guest_access', '', { guest_access: 5 }],
  ];
  const msgContents: [string, JsonObject][] = [
    ['m.room.message', { body: 5, msgtype: {} }],
    ['m.room.message', { 'm.relates_to': 'x' }],
    ['m.room.message', { 'm.relates_to': { rel_type: 5, event_id: {} } }],
    ['m.room.message', { 'm.relates_to': { rel_type: 'm.thread', event_id: 5 } }],
    ['m.room.message', { 'm.relates_to': { rel_type: 'm.annotation', event_id: remoteEventId, key: 5 } }],
    ['m.room.message', { 'm.relates_to': { 'm.in_reply_to': 'x' } }],
    ['m.room.message', { 'm.relates_to': { 'm.in_reply_to': { event_id: 5 } } }],
    ['m.room.message', { 'm.mentions': 'x', body: 'x' }],
    ['m.room.message', { 'm.mentions': { user_ids: 'x', room: 'x' }, body: 'x' }],
    ['m.room.message', { 'm.mentions': { user_ids: [5, null, {}] }, body: 'x' }],
    ['m.room.message', { 'm.new_content': 'x', 'm.relates_to': { rel_type: 'm.replace', event_id: remoteEventId } }],
    ['m.reaction', { 'm.relates_to': { rel_type: 'm.annotation', event_id: remoteEventId, key: { a: 1 } } }],
    ['m.room.redaction', { redacts: 5 }],
    ['m.room.encrypted', { algorithm: 5, ciphertext: {} }],
    ['m.call.invite', { call_id: 5, lifetime: 'x' }],
    ['m.sticker', { url: 5, info: 'x' }],
  ];
  const craft = async (type: string, content: JsonObject, stateKey?: string, redacts?: string) => {
    const ml = await fedJson('GET', `${FED}/v1/make_leave/${enc(roomId)}/${enc(REM)}`);
    const t = ml.event as JsonObject;
    const pdu: JsonObject = { type, room_id: roomId, sender: REM, content, depth: t.depth as number, origin_server_ts: tsCounter++, prev_events: t.prev_events as string[], auth_events: t.auth_events as string[] };
    if (stateKey !== undefined) pdu.state_key = stateKey;
    if (redacts !== undefined) pdu.redacts = redacts;
    try {
      return hashAndSignEvent(pdu, REMOTE, remoteKey, version);
    } catch {
      return pdu; // unsignable (a number out of range): sent unsigned
    }
  };
  for (const [type, stateKey, content] of stateTypes) await send(`pdu state ${type} ${JSON.stringify(content).slice(0, 60)}`, 'PUT', sendPath(), txn([await craft(type, content, stateKey)], []));
  for (const [type, content] of msgContents) await send(`pdu ${type} ${JSON.stringify(content).slice(0, 60)}`, 'PUT', sendPath(), txn([await craft(type, content)], []));
  for (const v of JUNK_VALUES.slice(0, 14)) {
    try {
      await send(`pdu m.room.redaction redacts=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', sendPath(), txn([await craft('m.room.redaction', {}, undefined, v as string)], []));
    } catch {
      /* unsignable */
    }
  }
  // Member events for a sender of our server (we never signed them).
  await send('pdu member of our user', 'PUT', sendPath(), txn([await craft('m.room.member', { membership: 'join' }, alice)], []));
  // A PDU for a room we do not know, and one with a huge number of prev/auth events.
  await send('pdu unknown room', 'PUT', sendPath(), txn([{ ...unsignedPdu, room_id: `!nope:${REMOTE}` }], []));
  await send('pdu 1000 prev', 'PUT', sendPath(), txn([hashAndSignEvent({ ...unsignedPdu, prev_events: Array.from({ length: 1000 }, (_, i) => `$p${i}`) }, REMOTE, remoteKey, version)], []));
  await send('pdu 1000 auth', 'PUT', sendPath(), txn([hashAndSignEvent({ ...unsignedPdu, auth_events: Array.from({ length: 1000 }, (_, i) => `$a${i}`) }, REMOTE, remoteKey, version)], []));
}

// --- Membership routes with junk events: each field of a good template with each wrong type.
if (!only || ['send_join', 'send_leave', 'send_knock', 'invite'].some((s) => s.includes(only))) {
  const kinds: { label: string; make: string; sends: string[]; user: () => string; room: string }[] = [
    { label: 'join', make: 'make_join', sends: ['/v1/send_join', '/v2/send_join'], user: () => `@j${++txnCounter}:${REMOTE}`, room: roomId },
    { label: 'leave', make: 'make_leave', sends: ['/v1/send_leave', '/v2/send_leave'], user: () => REM, room: roomId },
    { label: 'knock', make: 'make_knock', sends: ['/v1/send_knock'], user: () => `@k${++txnCounter}:${REMOTE}`, room: knockRoomId },
  ];
  for (const k of kinds) {
    section = `membership ${k.label}`;
    const user = k.user();
    const mk = await call('GET', `${FED}/v1/${k.make}/${enc(k.room)}/${enc(user)}?ver=10`);
    if (mk.status !== 200) {
      console.log(`(${k.make} answered ${mk.status}: ${mk.text.slice(0, 120)}; junk ${k.label} events built from a hand-made template)`);
    }
    const template: JsonObject =
      mk.status === 200
        ? (JSON.parse(mk.text).event as JsonObject)
        : { type: 'm.room.member', room_id: roomId, sender: user, state_key: user, content: { membership: k.label }, depth: 5, prev_events: [remoteEventId], auth_events: [remoteJoinId], origin: REMOTE };
    template.origin_server_ts = tsCounter++;
    const fields = [...Object.keys(template), 'content.membership', 'content.join_authorised_via_users_server', 'unsigned', 'redacts'];
    for (const f of fields) {
      for (const v of JUNK_VALUES) {
        const ev = structuredClone(template) as any;
        if (f.startsWith('content.')) ev.content = { ...(ev.content ?? {}), [f.slice(8)]: v };
        else ev[f] = v;
        let signed: JsonObject = ev;
        try {
          signed = hashAndSignEvent(ev, REMOTE, remoteKey, version);
        } catch {
          /* unsignable: sent as is */
        }
        let id = `$junk${++txnCounter}`;
        try {
          id = computeEventId(signed, version);
        } catch {
          /* keep the junk ID */
        }
        for (const s of k.sends) await send(`${k.label} ${f}=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', `${FED}${s}/${enc(k.room)}/${enc(id)}`, JSON.stringify(signed));
      }
    }
  }
  section = 'invite';
  // Invites: an invite event for a user of ours with junk fields, v1 and v2 bodies.
  const inviteTemplate: JsonObject = {
    type: 'm.room.member',
    room_id: `!inv:${REMOTE}`,
    sender: REM,
    state_key: alice,
    content: { membership: 'invite' },
    depth: 5,
    prev_events: [],
    auth_events: [],
    origin_server_ts: tsCounter++,
  };
  const inviteFields = [...Object.keys(inviteTemplate), 'content.membership', 'unsigned'];
  for (const f of inviteFields) {
    for (const v of JUNK_VALUES) {
      const ev = structuredClone(inviteTemplate) as any;
      if (f.startsWith('content.')) ev.content = { ...(ev.content ?? {}), [f.slice(8)]: v };
      else ev[f] = v;
      let signed: JsonObject = ev;
      try {
        signed = hashAndSignEvent(ev, REMOTE, remoteKey, version);
      } catch {
        /* unsignable */
      }
      let id = `$junk${++txnCounter}`;
      try {
        id = computeEventId(signed, version);
      } catch {
        /* keep the junk ID */
      }
      const rid = typeof ev.room_id === 'string' ? ev.room_id : `!inv:${REMOTE}`;
      await send(`invite v1 ${f}=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', `${FED}/v1/invite/${enc(rid)}/${enc(id)}`, JSON.stringify(signed));
      await send(`invite v2 ${f}=${JSON.stringify(v)?.slice(0, 30)}`, 'PUT', `${FED}/v2/invite/${enc(rid)}/${enc(id)}`, JSON.stringify({ room_version: '10', event: signed, invite_room_state: [] }));
    }
  }
  const goodInvite = hashAndSignEvent(structuredClone(inviteTemplate), REMOTE, remoteKey, version);
  const goodInviteId = computeEventId(goodInvite, version);
  for (const [f, vals] of [
    ['room_version', JUNK_VALUES],
    ['invite_room_state', [...JUNK_VALUES, [5], [null], [{ type: 5 }], [{ type: 'm.room.name', state_key: '', content: 'x', sender: 5 }]]],
    ['event', JUNK_VALUES],
  ] as [string, unknown[]][]) {
    for (const v of vals) {
      await send(`invite v2 body ${f}=${JSON.stringify(v)?.slice(0, 40)}`, 'PUT', `${FED}/v2/invite/${enc(`!inv:${REMOTE}`)}/${enc(goodInviteId)}`, JSON.stringify({ room_version: '10', event: goodInvite, invite_room_state: [], [f]: v }));
    }
  }
}

/** @rem may have left through a junk leave that was still a valid one: join again. */
async function rejoin(): Promise<void> {
  const state = await call('GET', `${FED}/v1/make_leave/${enc(roomId)}/${enc(REM)}`);
  if (state.status === 200) return;
  try {
    await joinRemote(REM);
  } catch (e) {
    problems.push(`rejoin of ${REM} failed: ${(e as Error).message.slice(0, 300)}`);
  }
}

// --- Odd requests: concurrency, headers, a real image, notary fan-out, unknown prev_events.
if (!only || only === 'misc') {
  section = 'misc';
  await rejoin();
  // The same transaction, and the same PDU in different transactions, at once.
  const c1 = await remoteMessage('concurrent');
  const sameTxn = `same${++txnCounter}`;
  const body = txn([c1.pdu], []);
  await Promise.all(Array.from({ length: 20 }, () => send('same txn x20', 'PUT', `${FED}/v1/send/${sameTxn}`, body)));
  const c2 = await remoteMessage('concurrent 2');
  await Promise.all(Array.from({ length: 20 }, () => send('same pdu in 20 txns', 'PUT', sendPath(), txn([c2.pdu], []))));
  // The same join, at once, v1 and v2; and make_join/send_join for many users at once.
  const user = `@conc${++txnCounter}:${REMOTE}`;
  const mj = await fedJson('GET', `${FED}/v1/make_join/${enc(roomId)}/${enc(user)}?ver=10`);
  const joinEv = hashAndSignEvent({ ...mj.event, origin_server_ts: tsCounter++ }, REMOTE, remoteKey, version);
  const joinId = computeEventId(joinEv, version);
  await Promise.all(
    Array.from({ length: 10 }, (_, i) => send('same send_join x10', 'PUT', `${FED}/v${1 + (i % 2)}/send_join/${enc(roomId)}/${enc(joinId)}`, JSON.stringify(joinEv))),
  );
  const many = await Promise.all(
    Array.from({ length: 10 }, async (_, i) => {
      const u = `@many${i}x${txnCounter}:${REMOTE}`;
      const t = await fedJson('GET', `${FED}/v1/make_join/${enc(roomId)}/${enc(u)}?ver=10`);
      const ev = hashAndSignEvent({ ...t.event, origin_server_ts: tsCounter++ }, REMOTE, remoteKey, version);
      return { ev, id: computeEventId(ev, version) };
    }),
  );
  await Promise.all(many.map(({ ev, id }) => send('10 joins from one template state at once', 'PUT', `${FED}/v2/send_join/${enc(roomId)}/${enc(id)}`, JSON.stringify(ev))));
  // Headers: content types, encodings, charsets.
  for (const [label, ct] of [
    ['text/plain', 'text/plain'],
    ['charset latin1', 'application/json; charset=latin1'],
    ['charset junk', 'application/json; charset=x-junk'],
    ['multipart', 'multipart/form-data; boundary=x'],
    ['form', 'application/x-www-form-urlencoded'],
    ['empty', ''],
  ] as const) {
    const r = await rawCall('PUT', sendPath(), { 'content-type': ct }, txn([], []));
    judge(`PUT /send content-type ${label}`, r);
  }
  for (const [label, headers, payload] of [
    ['gzip junk', { 'content-encoding': 'gzip', 'content-type': 'application/json' }, 'not gzip'],
    ['br', { 'content-encoding': 'br', 'content-type': 'application/json' }, '{}'],
    ['content-length 0 with body', { 'content-type': 'application/json' }, ''],
    ['utf-16 BOM', { 'content-type': 'application/json' }, '\ufeff{}'],
    ['expect 100-continue', { 'content-type': 'application/json', expect: '100-continue' }, txn([], [])],
  ] as [string, Record<string, string>, string][]) {
    judge(`PUT /send ${label}`, await rawCall('PUT', sendPath(), headers, payload));
  }
  // HEAD/OPTIONS/DELETE on federation paths.
  for (const m of ['HEAD', 'OPTIONS', 'DELETE', 'PATCH']) {
    // A HEAD answer has no body by definition.
    const judgeM = (what: string, a: Answer) => judge(what, m === 'HEAD' && a.status < 500 ? { ...a, text: '{"errcode":"HEAD"}' } : a);
    judgeM(`${m} /send`, await rawCall(m, sendPath(), {}, undefined));
    judgeM(`${m} /event`, await rawCall(m, `${FED}/v1/event/${enc(localEventId)}`, {}, undefined));
  }
  // A real image, thumbnailed at every size.
  const { default: sharp } = await import('sharp');
  const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#ff0000' } }).png().toBuffer();
  const up = await fetch(`${base}/_matrix/media/v3/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' }, body: png });
  const imageId = String(((await up.json()) as any).content_uri ?? '').split('/').pop();
  for (const [w, h] of [
    [1, 1],
    [65535, 65535],
    [65535, 1],
    [1, 65535],
    [800, 600],
    [0, 0],
    [32, 32],
  ]) {
    for (const method of ['scale', 'crop']) {
      for (const animated of ['', '&animated=true']) {
        await send(`thumbnail ${w}x${h} ${method}${animated}`, 'GET', `${FED}/v1/media/thumbnail/${imageId}?width=${w}&height=${h}&method=${method}${animated}`);
      }
    }
  }
  await send('download image', 'GET', `${FED}/v1/media/download/${imageId}`);
  // Notary: many servers, each needing an outbound fetch.
  for (const n of [1, 10]) {
    const a = await send(`notary ${n} servers`, 'POST', '/_matrix/key/v2/query', JSON.stringify({ server_keys: Object.fromEntries(Array.from({ length: n }, (_, i) => [`n${n}s${i}.invalid`, {}])) }));
    if (process.env.FUZZ_VERBOSE) console.log(`notary ${n} servers: ${Math.round(a.ms)} ms`);
  }
  const servers = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`s${i}.invalid`, {}]));
  await send('notary 200 servers', 'POST', '/_matrix/key/v2/query', JSON.stringify({ server_keys: servers }));
  await send('notary 200 key ids', 'POST', '/_matrix/key/v2/query', JSON.stringify({ server_keys: { [REMOTE]: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`ed25519:k${i}`, {}])) } }));
  await send('notary 201 servers', 'POST', '/_matrix/key/v2/query', JSON.stringify({ server_keys: { ...servers, 'x.invalid': {} } }));
  // PDUs whose prev_events we do not have (we ask the origin for them).
  const unknownPrev = await remoteMessage('gap');
  const gapRaw = { ...unknownPrev.pdu } as JsonObject;
  delete gapRaw.signatures;
  delete gapRaw.hashes;
  const gaps = Array.from({ length: 50 }, (_, i) => hashAndSignEvent({ ...gapRaw, prev_events: Array.from({ length: 20 }, (_, j) => `$gap${i}_${j}`), content: { msgtype: 'm.text', body: `gap ${i}` } }, REMOTE, remoteKey, version));
  await send('50 pdus with 20 unknown prev_events each', 'PUT', sendPath(), txn(gaps, []));
  // PDUs of 50 other servers' users, relayed by the origin: each needs that server's keys. Known:
  // the key fetches run at once, each bounded by its timeout (20 s); through a resolver that is slow
  // to fail unknown names, the transaction can take longer than 5 s.
  const foreign = Array.from({ length: 50 }, (_, i) => {
    const u = `@f:f${i}.invalid`;
    return hashAndSignEvent({ ...gapRaw, sender: u, content: { msgtype: 'm.text', body: `foreign ${i}` } }, `f${i}.invalid`, generateSigningKey('f'), version);
  });
  const fa = await send('50 pdus of 50 unknown servers', 'PUT', sendPath(), txn(foreign, []));
  if (process.env.FUZZ_VERBOSE) console.log(`50 pdus of 50 unknown servers: ${Math.round(fa.ms)} ms`);
  // Device keys and one-time keys for many users and devices.
  const users = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`@u${i}:${SERVER}`, []]));
  await send('keys/query 5000 users', 'POST', `${FED}/v1/user/keys/query`, JSON.stringify({ device_keys: { ...users, [alice]: [] } }));
  const claims = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`@u${i}:${SERVER}`, { D: 'signed_curve25519' }]));
  await send('keys/claim 5000 users', 'POST', `${FED}/v1/user/keys/claim`, JSON.stringify({ one_time_keys: claims }));
  // to-device to every device of many users.
  const messages = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`@u${i}:${SERVER}`, { '*': { a: 1 } }]));
  await send('to-device for 2000 users', 'PUT', sendPath(), txn([], [{ edu_type: 'm.direct_to_device', content: { sender: REM, type: 'm.x', message_id: 'big', messages: { ...messages, [alice]: { '*': { a: 1 } } } } }]));
  // backfill from 100 repeated v, get_missing_events with 10k earliest events.
  await send('backfill v x200', 'GET', `${FED}/v1/backfill/${enc(roomId)}?limit=100&${Array.from({ length: 200 }, () => `v=${enc(localEventId)}`).join('&')}`);
  await send('get_missing_events 10k earliest', 'POST', `${FED}/v1/get_missing_events/${enc(roomId)}`, JSON.stringify({ earliest_events: Array.from({ length: 10_000 }, (_, i) => `$e${i}`), latest_events: [localEventId], limit: 20 }));
  await send('get_missing_events 10k latest', 'POST', `${FED}/v1/get_missing_events/${enc(roomId)}`, JSON.stringify({ earliest_events: [], latest_events: Array.from({ length: 10_000 }, () => localEventId), limit: 20 }));
}

// --- Poison: events that are valid on their own but may break what the room does next. After each,
// local users and the remote must still be able to use the room.
if (!only || only === 'poison') {
  section = 'poison';
  await rejoin();
  const poisons: [string, (t: JsonObject) => JsonObject][] = [
    ['depth 2^53-1', (t) => ({ ...t, depth: Number.MAX_SAFE_INTEGER })],
    ['origin_server_ts 2^53-1', (t) => ({ ...t, origin_server_ts: Number.MAX_SAFE_INTEGER })],
    ['origin_server_ts -2^53+1', (t) => ({ ...t, origin_server_ts: -Number.MAX_SAFE_INTEGER })],
    ['content with 100k-char key', (t) => ({ ...t, content: { msgtype: 'm.text', body: 'x', ['k'.repeat(100_000)]: 1 } })],
    ['thread on itself-like junk', (t) => ({ ...t, content: { msgtype: 'm.text', body: 'x', 'm.relates_to': { rel_type: 'm.thread', event_id: '$nope' } } })],
    ['replace of a local event', (t) => ({ ...t, content: { msgtype: 'm.text', body: 'x', 'm.new_content': { body: 5 }, 'm.relates_to': { rel_type: 'm.replace', event_id: localEventId } } })],
    ['annotation with 10k key', (t) => ({ ...t, type: 'm.reaction', content: { 'm.relates_to': { rel_type: 'm.annotation', event_id: localEventId, key: 'k'.repeat(10_000) } } })],
    ['state event with 10k-char state key', (t) => ({ ...t, type: 'org.example.state', state_key: 's'.repeat(10_000), content: {} })],
    ['power levels with huge numbers', (t) => ({ ...t, type: 'm.room.power_levels', state_key: '', content: { users: { [REM]: Number.MAX_SAFE_INTEGER } } })],
  ];
  for (const [label, change] of poisons) {
    const base = await remoteMessage('poison');
    const raw = { ...base.pdu } as JsonObject;
    delete raw.signatures;
    delete raw.hashes;
    const pdu = hashAndSignEvent(change(raw), REMOTE, remoteKey, version);
    const a = await send(`poison ${label}`, 'PUT', sendPath(), txn([pdu], []));
    const result = a.status === 200 ? JSON.stringify(JSON.parse(a.text).pdus) : a.text;
    if (process.env.FUZZ_VERBOSE) console.log(`poison ${label}: ${result.slice(0, 200)}`);
    // Then local use of the room.
    const local = await fetch(`${base0}/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/p${++txnCounter}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ msgtype: 'm.text', body: `after ${label}` }),
    });
    if (local.status !== 200) problems.push(`poison ${label} (${result.slice(0, 120)}): alice's next message -> ${local.status} ${(await local.text()).slice(0, 200)}`);
    for (const path of [`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=20`, `/_matrix/client/v3/rooms/${enc(roomId)}/state`, `/_matrix/client/v3/sync`, `/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(localEventId)}`, `/_matrix/client/v1/rooms/${enc(roomId)}/threads`]) {
      const r = await fetch(base0 + path, { headers: { authorization: `Bearer ${token}` } });
      if (r.status !== 200) problems.push(`poison ${label}: GET ${path} -> ${r.status} ${(await r.text()).slice(0, 200)}`);
    }
    const mj = await call('GET', `${FED}/v1/make_join/${enc(roomId)}/${enc(`@p${txnCounter}:${REMOTE}`)}?ver=10`);
    if (mj.status !== 200) problems.push(`poison ${label}: make_join -> ${mj.status} ${mj.text.slice(0, 200)}`);
    for (const p of [`${FED}/v1/backfill/${enc(roomId)}?v=${enc(localEventId)}&limit=50`, `${FED}/v1/state_ids/${enc(roomId)}?event_id=${enc(localEventId)}`]) {
      const r = await call('GET', p);
      if (r.status !== 200) problems.push(`poison ${label}: GET ${p} -> ${r.status} ${r.text.slice(0, 200)}`);
    }
  }
}

// --- Still working?
await rejoin();
const after = await remoteMessage('still alive');
const check = await call('PUT', `${FED}/v1/send/final${++txnCounter}`, { body: JSON.stringify({ origin: REMOTE, origin_server_ts: Date.now(), pdus: [after.pdu], edus: [] }) });
if (check.status !== 200 || JSON.stringify(JSON.parse(check.text).pdus[after.eventId]) !== '{}') problems.push(`final good event not accepted: ${check.status} ${check.text.slice(0, 300)}`);
const syncCheck = await fetch(`${base}/_matrix/client/v3/sync`, { headers: { authorization: `Bearer ${token}` } });
if (syncCheck.status !== 200) problems.push(`final /sync: ${syncCheck.status} ${(await syncCheck.text()).slice(0, 300)}`);
else {
  const sync = (await syncCheck.json()) as any;
  const bodies = (sync.rooms?.join?.[roomId]?.timeline?.events ?? []).map((e: any) => e.content?.body);
  if (!bodies.includes('still alive')) problems.push(`final /sync: the good event is missing from the timeline (${JSON.stringify(bodies).slice(0, 200)})`);
}

await server.close();
const serverErrors = logged.filter((l) => /"level":(50|60)/.test(l));
const warnings = new Map<string, number>();
for (const l of logged.filter((x) => /"level":40/.test(x))) {
  const msg = String((JSON.parse(l) as { msg?: string }).msg ?? l).replace(/[!$@][^\s:]+(:[^\s]+)?/g, '<id>').slice(0, 200);
  warnings.set(msg, (warnings.get(msg) ?? 0) + 1);
}
if (process.env.FUZZ_VERBOSE) {
  for (const [sec, h] of histogram) console.log(`${sec}: ${[...h].map(([k, n]) => `${k} x${n}`).join(', ')}`);
  for (const [msg, n] of warnings) console.log(`warn x${n}: ${msg}`);
  for (const [sec, m] of errorTexts) {
    console.log(`${sec}:`);
    for (const [msg, n] of [...m].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`    x${n} ${msg}`);
  }
}
console.log(`${requests} requests to ${endpoints.length} endpoints`);
console.log(problems.length ? `problems (${problems.length}):\n${problems.join('\n')}` : 'no problems');
if (unauthenticated.length) console.log(`refused 401 (not reaching the handler, ${unauthenticated.length}):\n${unauthenticated.slice(0, 40).join('\n')}`);
if (serverErrors.length) console.log(`server errors logged (${serverErrors.length}):\n${serverErrors.slice(0, 80).map((l) => l.slice(0, 800)).join('\n')}`);
process.exit(0);

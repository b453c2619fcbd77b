// Helpers for the room-event endpoint tests: the rooms lifecycle harness (users, rooms writer, room
// lifecycle, all over one :memory: database) plus shorthands for sending and reading room events.
import { afterEach } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { createClientTxns } from '../../src/rooms/transactions.js';
import { createRelationsService } from '../../src/rooms/relations.js';
import { enc, lifecycleHarness, V3, type LifecycleHarness } from './rooms-lifecycle-harness.js';
import type { Res, Session } from './users-harness.js';

export { enc, SERVER, V3 } from './rooms-lifecycle-harness.js';
export const V1 = '/_matrix/client/v1';

export interface RoomEventsHarness extends LifecycleHarness {
  /** PUT /send; returns the response (see sendOk for the event ID). */
  send(s: Session, roomId: string, content: unknown, opts?: { type?: string; txn?: string }): Promise<Res>;
  /** PUT /send and expects 200; returns the event ID. */
  sendOk(s: Session, roomId: string, content: JsonObject, type?: string): Promise<string>;
  /** PUT /state/{type}/{stateKey}; expects 200; returns the event ID. */
  putState(s: Session, roomId: string, type: string, content: JsonObject, stateKey?: string): Promise<string>;
  /** POST /rooms/{roomId}/join; expects 200. */
  join(s: Session, roomId: string): Promise<void>;
  /** POST /rooms/{roomId}/leave; expects 200. */
  leave(s: Session, roomId: string): Promise<void>;
  get(s: Session | undefined, path: string): Promise<Res>;
  /** POST /login with the password `pw` (the harness's): a new device. */
  login(user: string, password: string): Promise<Session>;
}

const harnesses: LifecycleHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

let txnCounter = 0;

/** A harness closed after the test. */
export async function roomEventsHarness(config: Record<string, unknown> = {}): Promise<RoomEventsHarness> {
  const base = await lifecycleHarness(config);
  harnesses.push(base);
  // The routes built these (one per store): the same instances.
  createClientTxns({ store: base.store });
  createRelationsService({ store: base.store });
  const h = base as RoomEventsHarness;
  h.send = (s, roomId, content, opts = {}) =>
    h.req('PUT', `${V3}/rooms/${enc(roomId)}/send/${enc(opts.type ?? 'm.room.message')}/${enc(opts.txn ?? `t${++txnCounter}`)}`, {
      token: s.access_token,
      body: content,
    });
  h.sendOk = async (s, roomId, content, type = 'm.room.message') => {
    const r = await h.send(s, roomId, content, { type });
    if (r.status !== 200) throw new Error(`send: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.event_id as string;
  };
  h.putState = async (s, roomId, type, content, stateKey = '') => {
    const r = await h.req('PUT', `${V3}/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`, { token: s.access_token, body: content });
    if (r.status !== 200) throw new Error(`state: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.event_id as string;
  };
  h.join = async (s, roomId) => {
    const r = await h.req('POST', `${V3}/rooms/${enc(roomId)}/join`, { token: s.access_token, body: {} });
    if (r.status !== 200) throw new Error(`join: ${r.status} ${JSON.stringify(r.body)}`);
  };
  h.leave = async (s, roomId) => {
    const r = await h.req('POST', `${V3}/rooms/${enc(roomId)}/leave`, { token: s.access_token, body: {} });
    if (r.status !== 200) throw new Error(`leave: ${r.status} ${JSON.stringify(r.body)}`);
  };
  h.get = (s, path) => h.req('GET', path, s ? { token: s.access_token } : {});
  h.login = async (user, password) => {
    const r = await h.req('POST', `${V3}/login`, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password } });
    if (r.status !== 200) throw new Error(`login: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as Session;
  };
  return h;
}

/** A public room created by `owner` (and joined by `others`). */
export async function publicRoom(h: RoomEventsHarness, owner: Session, others: Session[] = [], body: JsonObject = {}): Promise<string> {
  const roomId = await h.createRoom(owner.access_token, { preset: 'public_chat', ...body });
  for (const s of others) await h.join(s, roomId);
  return roomId;
}

/** The bodies (content.body) of client events. */
export function bodies(events: JsonObject[]): unknown[] {
  return events.map((e) => (e.content as JsonObject).body);
}

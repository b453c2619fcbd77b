// Rooms across real server processes on loopback (HTTPS, names localhost:<port>): a user of B joins
// a public room of A by alias; messages, edits, reactions, redactions, typing and receipts flow both
// ways and show in /sync on both sides; an invite from A to a user of B; kicks and bans across
// servers; profile and directory queries; remote media; and a room on three servers where two make
// conflicting state changes at once, which every server resolves to the same state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { api, insecureAgent, register, startInstances, type Instance, type Instances, type TestUser } from './federation-harness.js';

const enc = encodeURIComponent;
type Ev = { type: string; event_id: string; sender: string; state_key?: string; content: Record<string, any>; unsigned?: Record<string, any> };

let cluster: Instances;
let A: Instance;
let B: Instance;
let C: Instance;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let roomId: string;
let alias: string;
let txn = 0;

async function eventually<T>(fn: () => Promise<T | undefined | false>, what: string, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** A /sync stream per user: each call returns what arrived since the previous one. */
class SyncStream {
  private since: string | undefined;
  constructor(
    private readonly server: Instance,
    private readonly user: TestUser,
  ) {}
  async next(timeout = 0): Promise<Record<string, any>> {
    const q = `timeout=${timeout}${this.since ? `&since=${enc(this.since)}` : ''}`;
    const r = await api(this.server, this.user.accessToken, 'GET', `/sync?${q}`);
    if (r.status !== 200) throw new Error(`sync: ${r.status} ${JSON.stringify(r.body)}`);
    this.since = r.body.next_batch;
    return r.body;
  }
  /** Waits until `pick` finds something in the room's joined section of a sync answer. */
  async waitFor<T>(room: string, pick: (joined: Record<string, any>) => T | undefined, what: string): Promise<T> {
    return eventually(async () => {
      const body = await this.next(1000);
      const joined = body.rooms?.join?.[room];
      return joined ? pick(joined) : undefined;
    }, what);
  }
}

function timelineEvent(joined: Record<string, any>, match: (e: Ev) => boolean): Ev | undefined {
  return (joined.timeline?.events as Ev[] | undefined)?.find(match);
}

async function send(server: Instance, user: TestUser, room: string, content: Record<string, unknown>, type = 'm.room.message'): Promise<string> {
  const r = await api(server, user.accessToken, 'PUT', `/rooms/${enc(room)}/send/${enc(type)}/t${++txn}`, content);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.event_id;
}

async function membership(server: Instance, user: TestUser, room: string, target: string): Promise<string | undefined> {
  const r = await api(server, user.accessToken, 'GET', `/rooms/${enc(room)}/state/m.room.member/${enc(target)}`);
  return r.status === 200 ? r.body.membership : undefined;
}

async function stateIds(server: Instance, user: TestUser, room: string): Promise<string[]> {
  const r = await api(server, user.accessToken, 'GET', `/rooms/${enc(room)}/state`);
  expect(r.status).toBe(200);
  return (r.body as Ev[]).map((e) => `${e.type}|${e.state_key}|${e.event_id}`).sort();
}

beforeAll(async () => {
  cluster = await startInstances(3);
  [A, B, C] = cluster.servers as [Instance, Instance, Instance];
  [alice, bob, carol] = await Promise.all([register(A, 'alice'), register(B, 'bob'), register(C, 'carol')]);
  await api(A, alice.accessToken, 'PUT', `/profile/${enc(alice.userId)}/displayname`, { displayname: 'Alice of A' });
  const created = await api(A, alice.accessToken, 'POST', '/createRoom', { preset: 'public_chat', room_alias_name: 'lobby', name: 'Lobby' });
  expect(created.status).toBe(200);
  roomId = created.body.room_id;
  alias = `#lobby:${A.serverName}`;
}, 180_000);

afterAll(async () => {
  await cluster?.close();
}, 60_000);

describe('rooms across servers', () => {
  it('a user of B joins a public room of A by alias', async () => {
    const r = await api(B, bob.accessToken, 'POST', `/join/${enc(alias)}`, {});
    expect(r.status, `${JSON.stringify(r.body)}\n${B.logTail()}`).toBe(200);
    expect(r.body.room_id).toBe(roomId);
    expect(await eventually(async () => (await membership(A, alice, roomId, bob.userId)) === 'join', 'A to see the join')).toBe(true);
    const sync = await new SyncStream(B, bob).next();
    const joined = sync.rooms.join[roomId];
    expect(joined).toBeDefined();
    const state = [...(joined.state?.events ?? []), ...(joined.timeline?.events ?? [])] as Ev[];
    expect(state.find((e) => e.type === 'm.room.name')?.content.name).toBe('Lobby');
    expect(new Set(await stateIds(B, bob, roomId))).toEqual(new Set(await stateIds(A, alice, roomId)));
  });

  it('messages, edits, reactions and redactions flow both ways and show in /sync on both sides', async () => {
    const syncA = new SyncStream(A, alice);
    const syncB = new SyncStream(B, bob);
    await Promise.all([syncA.next(), syncB.next()]);

    const m1 = await send(A, alice, roomId, { msgtype: 'm.text', body: 'hello from A' });
    const seenB = await syncB.waitFor(roomId, (j) => timelineEvent(j, (e) => e.event_id === m1), 'B to receive m1');
    expect(seenB.content.body).toBe('hello from A');

    const m2 = await send(B, bob, roomId, { msgtype: 'm.text', body: 'hello from B' });
    const seenA = await syncA.waitFor(roomId, (j) => timelineEvent(j, (e) => e.event_id === m2), 'A to receive m2');
    expect(seenA.sender).toBe(bob.userId);

    const edit = await send(B, bob, roomId, {
      msgtype: 'm.text',
      body: '* hello from B (edited)',
      'm.new_content': { msgtype: 'm.text', body: 'hello from B (edited)' },
      'm.relates_to': { rel_type: 'm.replace', event_id: m2 },
    });
    await syncA.waitFor(roomId, (j) => timelineEvent(j, (e) => e.event_id === edit), 'A to receive the edit');
    const edited = await eventually(async () => {
      const r = await api(A, alice.accessToken, 'GET', `/rooms/${enc(roomId)}/event/${enc(m2)}`);
      return r.body.unsigned?.['m.relations']?.['m.replace'] ? r.body : undefined;
    }, 'the edit to be aggregated on A');
    expect(edited.unsigned['m.relations']['m.replace'].event_id).toBe(edit);

    const reaction = await send(A, alice, roomId, { 'm.relates_to': { rel_type: 'm.annotation', event_id: m2, key: '👍' } }, 'm.reaction');
    const r = await syncB.waitFor(roomId, (j) => timelineEvent(j, (e) => e.event_id === reaction), 'B to receive the reaction');
    expect(r.content['m.relates_to'].key).toBe('👍');
    const rel = await eventually(async () => {
      const x = await api(B, bob.accessToken, 'GET', `/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(m2)}/m.annotation`);
      return (x.body.chunk as Ev[] | undefined)?.some((e) => e.event_id === reaction) ? x.body : undefined;
    }, 'the reaction in B\'s relations');
    expect(rel.chunk.length).toBeGreaterThan(0);

    const redaction = await api(A, alice.accessToken, 'PUT', `/rooms/${enc(roomId)}/redact/${enc(m1)}/r${++txn}`, { reason: 'oops' });
    expect(redaction.status).toBe(200);
    await syncB.waitFor(roomId, (j) => timelineEvent(j, (e) => e.event_id === redaction.body.event_id), 'B to receive the redaction');
    const gone = await eventually(async () => {
      const x = await api(B, bob.accessToken, 'GET', `/rooms/${enc(roomId)}/event/${enc(m1)}`);
      return x.status === 200 && Object.keys(x.body.content).length === 0 ? x.body : undefined;
    }, 'm1 redacted on B');
    expect(gone.unsigned.redacted_because.event_id).toBe(redaction.body.event_id);
  });

  it('typing and receipts flow both ways', async () => {
    const syncA = new SyncStream(A, alice);
    const syncB = new SyncStream(B, bob);
    await Promise.all([syncA.next(), syncB.next()]);
    expect((await api(B, bob.accessToken, 'PUT', `/rooms/${enc(roomId)}/typing/${enc(bob.userId)}`, { typing: true, timeout: 20_000 })).status).toBe(200);
    await syncA.waitFor(roomId, (j) => (j.ephemeral?.events as Ev[] | undefined)?.find((e) => e.type === 'm.typing' && e.content.user_ids.includes(bob.userId)), 'A to see bob typing');
    expect((await api(A, alice.accessToken, 'PUT', `/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, { typing: true, timeout: 20_000 })).status).toBe(200);
    await syncB.waitFor(roomId, (j) => (j.ephemeral?.events as Ev[] | undefined)?.find((e) => e.type === 'm.typing' && e.content.user_ids.includes(alice.userId)), 'B to see alice typing');

    const m = await send(B, bob, roomId, { msgtype: 'm.text', body: 'read me' });
    await syncA.waitFor(roomId, (j) => timelineEvent(j, (e) => e.event_id === m), 'A to receive the message');
    expect((await api(A, alice.accessToken, 'POST', `/rooms/${enc(roomId)}/receipt/m.read/${enc(m)}`, {})).status).toBe(200);
    await syncB.waitFor(roomId, (j) => (j.ephemeral?.events as Ev[] | undefined)?.find((e) => e.type === 'm.receipt' && e.content[m]?.['m.read']?.[alice.userId]), 'B to see alice\'s receipt');
    const m2 = await send(A, alice, roomId, { msgtype: 'm.text', body: 'read me too' });
    await syncB.waitFor(roomId, (j) => timelineEvent(j, (e) => e.event_id === m2), 'B to receive the message');
    expect((await api(B, bob.accessToken, 'POST', `/rooms/${enc(roomId)}/receipt/m.read/${enc(m2)}`, {})).status).toBe(200);
    await syncA.waitFor(roomId, (j) => (j.ephemeral?.events as Ev[] | undefined)?.find((e) => e.type === 'm.receipt' && e.content[m2]?.['m.read']?.[bob.userId]), 'A to see bob\'s receipt');
  });

  it('an invite from A to a user of B shows in B\'s /sync and is accepted by joining', async () => {
    const bea = await register(B, 'bea');
    const syncB = new SyncStream(B, bea);
    await syncB.next();
    const room = await api(A, alice.accessToken, 'POST', '/createRoom', { preset: 'private_chat', name: 'Private' });
    const privateRoom = room.body.room_id as string;
    const inv = await api(A, alice.accessToken, 'POST', `/rooms/${enc(privateRoom)}/invite`, { user_id: bea.userId });
    expect(inv.status, JSON.stringify(inv.body)).toBe(200);
    const invite = await eventually(async () => (await syncB.next(1000)).rooms?.invite?.[privateRoom], 'the invite in B\'s sync');
    const events = invite.invite_state.events as Ev[];
    expect(events.find((e) => e.type === 'm.room.name')?.content.name).toBe('Private');
    expect(events.find((e) => e.type === 'm.room.member' && e.state_key === bea.userId)?.content.membership).toBe('invite');
    const j = await api(B, bea.accessToken, 'POST', `/join/${enc(privateRoom)}`, {});
    expect(j.status, JSON.stringify(j.body)).toBe(200);
    expect(await eventually(async () => (await membership(A, alice, privateRoom, bea.userId)) === 'join', 'A to see bea joined')).toBe(true);
    const m = await send(A, alice, privateRoom, { msgtype: 'm.text', body: 'welcome' });
    await syncB.waitFor(privateRoom, (x) => timelineEvent(x, (e) => e.event_id === m), 'bea to receive the welcome');
  });

  it('kicks and bans across servers', async () => {
    const bo = await register(B, 'bo');
    expect((await api(B, bo.accessToken, 'POST', `/join/${enc(roomId)}?server_name=${enc(A.serverName)}`, {})).status).toBe(200);
    await eventually(async () => (await membership(A, alice, roomId, bo.userId)) === 'join', 'A to see bo joined');
    const kick = await api(A, alice.accessToken, 'POST', `/rooms/${enc(roomId)}/kick`, { user_id: bo.userId, reason: 'out' });
    expect(kick.status).toBe(200);
    expect(await eventually(async () => (await membership(B, bob, roomId, bo.userId)) === 'leave', 'B to see the kick')).toBe(true);
    // A kicked user may come back (the room is public).
    expect((await api(B, bo.accessToken, 'POST', `/join/${enc(roomId)}`, {})).status).toBe(200);
    await eventually(async () => (await membership(A, alice, roomId, bo.userId)) === 'join', 'A to see bo back');
    const ban = await api(A, alice.accessToken, 'POST', `/rooms/${enc(roomId)}/ban`, { user_id: bo.userId, reason: 'spam' });
    expect(ban.status).toBe(200);
    expect(await eventually(async () => (await membership(B, bob, roomId, bo.userId)) === 'ban', 'B to see the ban')).toBe(true);
    // A banned user's join is refused, on B (which holds the room) and anyway by A.
    const again = await api(B, bo.accessToken, 'POST', `/join/${enc(roomId)}`, {});
    expect(again.status).toBe(403);
    // B's user can ban too: a user of A is banned by bob after alice gives him the power.
    const pl = await api(A, alice.accessToken, 'GET', `/rooms/${enc(roomId)}/state/m.room.power_levels/`);
    const users = { ...pl.body.users, [bob.userId]: 100 };
    expect((await api(A, alice.accessToken, 'PUT', `/rooms/${enc(roomId)}/state/m.room.power_levels/`, { ...pl.body, users })).status).toBe(200);
    const amy = await register(A, 'amy');
    expect((await api(A, amy.accessToken, 'POST', `/join/${enc(roomId)}`, {})).status).toBe(200);
    await eventually(async () => {
      const p = await api(B, bob.accessToken, 'GET', `/rooms/${enc(roomId)}/state/m.room.power_levels/`);
      return p.body.users?.[bob.userId] === 100 && (await membership(B, bob, roomId, amy.userId)) === 'join';
    }, 'B to see the power levels and amy');
    expect((await api(B, bob.accessToken, 'POST', `/rooms/${enc(roomId)}/ban`, { user_id: amy.userId })).status).toBe(200);
    expect(await eventually(async () => (await membership(A, alice, roomId, amy.userId)) === 'ban', 'A to see amy banned by bob')).toBe(true);
  });

  it('profile and directory queries', async () => {
    const p = await api(B, bob.accessToken, 'GET', `/profile/${enc(alice.userId)}`);
    expect(p.status).toBe(200);
    expect(p.body.displayname).toBe('Alice of A');
    const d = await api(B, bob.accessToken, 'GET', `/directory/room/${enc(alias)}`);
    expect(d.status).toBe(200);
    expect(d.body.room_id).toBe(roomId);
    expect(d.body.servers).toContain(A.serverName);
    expect((await api(B, bob.accessToken, 'GET', `/directory/room/${enc(`#missing:${A.serverName}`)}`)).status).toBe(404);
    const pub = await api(A, alice.accessToken, 'PUT', `/directory/list/room/${enc(roomId)}`, { visibility: 'public' });
    expect(pub.status).toBe(200);
    const list = await api(B, bob.accessToken, 'GET', `/publicRooms?server=${enc(A.serverName)}`);
    expect(list.status).toBe(200);
    expect((list.body.chunk as { room_id: string }[]).map((c) => c.room_id)).toContain(roomId);
  });

  it('remote media: a file uploaded on A is downloaded by a client of B', async () => {
    const bytes = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
    const up = await request(`${A.baseUrl}/_matrix/media/v3/upload?filename=data.bin`, {
      method: 'POST',
      dispatcher: insecureAgent,
      headers: { authorization: `Bearer ${alice.accessToken}`, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    const uri = ((await up.body.json()) as { content_uri: string }).content_uri;
    expect(uri.startsWith(`mxc://${A.serverName}/`)).toBe(true);
    const mediaId = uri.slice(`mxc://${A.serverName}/`.length);
    const dl = await request(`${B.baseUrl}/_matrix/client/v1/media/download/${enc(A.serverName)}/${enc(mediaId)}`, {
      dispatcher: insecureAgent,
      headers: { authorization: `Bearer ${bob.accessToken}` },
    });
    expect(dl.statusCode).toBe(200);
    expect(Buffer.compare(Buffer.from(await dl.body.arrayBuffer()), bytes)).toBe(0);
    expect(String(dl.headers['content-disposition'])).toContain('data.bin');
  });
});

describe('a room on three servers', () => {
  it('conflicting state changes made at once on two servers converge to the same state everywhere', async () => {
    const created = await api(A, alice.accessToken, 'POST', '/createRoom', { preset: 'public_chat', name: 'Three' });
    const room = created.body.room_id as string;
    for (const [server, user] of [[B, bob], [C, carol]] as const) {
      expect((await api(server, user.accessToken, 'POST', `/join/${enc(room)}?server_name=${enc(A.serverName)}`, {})).status).toBe(200);
    }
    // Bob and carol may change the topic and name.
    const pl = await api(A, alice.accessToken, 'GET', `/rooms/${enc(room)}/state/m.room.power_levels/`);
    expect((await api(A, alice.accessToken, 'PUT', `/rooms/${enc(room)}/state/m.room.power_levels/`, { ...pl.body, users: { ...pl.body.users, [bob.userId]: 50, [carol.userId]: 50 } })).status).toBe(200);
    await eventually(async () => {
      for (const [s, u] of [[B, bob], [C, carol]] as const) {
        const p = await api(s, u.accessToken, 'GET', `/rooms/${enc(room)}/state/m.room.power_levels/`);
        if (p.body.users?.[carol.userId] !== 50 || (await membership(s, u, room, carol.userId)) !== 'join' || (await membership(s, u, room, bob.userId)) !== 'join') return false;
      }
      return true;
    }, 'every server to see the power levels and both joins');

    // At once: B and C set the topic and the name.
    const [tb, tc, nb, nc] = await Promise.all([
      api(B, bob.accessToken, 'PUT', `/rooms/${enc(room)}/state/m.room.topic/`, { topic: 'topic from B' }),
      api(C, carol.accessToken, 'PUT', `/rooms/${enc(room)}/state/m.room.topic/`, { topic: 'topic from C' }),
      api(B, bob.accessToken, 'PUT', `/rooms/${enc(room)}/state/m.room.name/`, { name: 'name from B' }),
      api(C, carol.accessToken, 'PUT', `/rooms/${enc(room)}/state/m.room.name/`, { name: 'name from C' }),
    ]);
    for (const r of [tb, tc, nb, nc]) expect(r.status).toBe(200);
    const ids = [tb, tc, nb, nc].map((r) => r.body.event_id as string);
    // Every server learns of all four events...
    for (const [s, u] of [[A, alice], [B, bob], [C, carol]] as const) {
      await eventually(async () => {
        for (const id of ids) if ((await api(s, u.accessToken, 'GET', `/rooms/${enc(room)}/event/${enc(id)}`)).status !== 200) return false;
        return true;
      }, `${s.serverName} to hold the four state events`);
    }
    // ...and a message from each server merges the forks.
    for (const [s, u] of [[A, alice], [B, bob], [C, carol]] as const) await send(s, u, room, { msgtype: 'm.text', body: `merge from ${s.serverName}` });
    const converged = await eventually(async () => {
      const [sa, sb, sc] = await Promise.all([stateIds(A, alice, room), stateIds(B, bob, room), stateIds(C, carol, room)]);
      const same = JSON.stringify(sa) === JSON.stringify(sb) && JSON.stringify(sb) === JSON.stringify(sc);
      return same ? sa : undefined;
    }, 'the three servers to agree on the room state', 60_000);
    // The resolved topic and name are one of the conflicting ones, the same everywhere.
    const topicIds = converged.filter((k) => k.startsWith('m.room.topic|')).map((k) => k.split('|')[2]);
    expect(topicIds).toHaveLength(1);
    expect([tb.body.event_id, tc.body.event_id]).toContain(topicIds[0]);
    const nameIds = converged.filter((k) => k.startsWith('m.room.name|')).map((k) => k.split('|')[2]);
    expect([nb.body.event_id, nc.body.event_id]).toContain(nameIds[0]);
    const topics = await Promise.all([[A, alice], [B, bob], [C, carol]].map(async ([s, u]) => (await api(s as Instance, (u as TestUser).accessToken, 'GET', `/rooms/${enc(room)}/state/m.room.topic/`)).body.topic));
    expect(new Set(topics).size).toBe(1);
  });
});

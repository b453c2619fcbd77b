// Content reports through the HTTP API: events (joined, visible, not redacted), rooms and users,
// stored for admins; the 404s the spec describes and the body checks.
import { afterEach, describe, expect, it } from 'vitest';
import { REMOTE, SERVER, V3, searchHarness, type SearchHarness } from './search-harness.js';

const harnesses: SearchHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function setup() {
  const h = await searchHarness();
  harnesses.push(h);
  const alice = await h.register('alice');
  const bob = await h.register('bob');
  const carol = await h.register('carol');
  return { h, alice: alice.access_token, bob: bob.access_token, carol: carol.access_token, A: `@alice:${SERVER}`, B: `@bob:${SERVER}`, C: `@carol:${SERVER}` };
}

const enc = encodeURIComponent;

describe('reporting content', () => {
  it('stores a report of an event the reporter can see', async () => {
    const { h, bob, A, B } = await setup();
    const roomId = await h.room(A, { others: [B] });
    const ev = await h.send(roomId, A, 'something offensive');
    h.clock.now += 1234;
    const r = await h.req('POST', `${V3}/rooms/${enc(roomId)}/report/${enc(ev)}`, { token: bob, body: { reason: 'rude', score: -100 } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({});
    const [report] = await h.area.reports.listReports();
    expect(report).toMatchObject({
      kind: 'event',
      reporter: B,
      roomId,
      eventId: ev,
      targetUserId: A,
      reason: 'rude',
      content: { reason: 'rude', score: -100 },
      receivedTs: h.clock.now,
    });
    // reason is optional for event reports; r0 serves this endpoint too.
    expect((await h.req('POST', `/_matrix/client/r0/rooms/${enc(roomId)}/report/${enc(ev)}`, { token: bob, body: {} })).status).toBe(200);
    expect(await h.area.reports.listReports()).toHaveLength(2);
  });

  it('answers 404 for events the reporter cannot see', async () => {
    const { h, bob, carol, A, B, C } = await setup();
    const roomId = await h.room(A, { others: [B], historyVisibility: 'joined' });
    const before = await h.send(roomId, A, 'before carol');
    const other = await h.room(A);
    const elsewhere = await h.send(other, A, 'in another room');
    const redacted = await h.send(roomId, A, 'soon gone');
    await h.redact(roomId, A, redacted);
    const report = (token: string, room: string, ev: string) =>
      h.req('POST', `${V3}/rooms/${enc(room)}/report/${enc(ev)}`, { token, body: { reason: 'x' } });
    // Not joined.
    const notJoined = await report(carol, roomId, before);
    expect(notJoined.status).toBe(404);
    expect(notJoined.body.errcode).toBe('M_NOT_FOUND');
    // Joined, but the event predates the join under "joined" history visibility.
    await h.join(roomId, C);
    expect((await report(carol, roomId, before)).status).toBe(404);
    // Unknown event, event of another room, redacted event.
    expect((await report(bob, roomId, '$nope')).status).toBe(404);
    expect((await report(bob, roomId, elsewhere)).status).toBe(404);
    expect((await report(bob, roomId, redacted)).status).toBe(404);
    expect(await h.area.reports.listReports()).toEqual([]);
  });

  it('checks the body of event reports', async () => {
    const { h, bob, A, B } = await setup();
    const roomId = await h.room(A, { others: [B] });
    const ev = await h.send(roomId, A, 'hello');
    const url = `${V3}/rooms/${enc(roomId)}/report/${enc(ev)}`;
    expect((await h.req('POST', url, { token: bob, body: { reason: 5 } })).body.errcode).toBe('M_BAD_JSON');
    expect((await h.req('POST', url, { token: bob, body: { reason: 'x', score: 'high' } })).body.errcode).toBe('M_BAD_JSON');
    expect((await h.req('POST', url, { token: bob, body: [] })).status).toBe(400);
    expect((await h.req('POST', url, { body: { reason: 'x' } })).status).toBe(401);
  });

  it('stores room reports from anyone, 404 for unknown rooms', async () => {
    const { h, carol, A, C } = await setup();
    const roomId = await h.room(A, { joinRule: 'invite' });
    const r = await h.req('POST', `${V3}/rooms/${enc(roomId)}/report`, { token: carol, body: { reason: 'spam room' } });
    expect(r.status).toBe(200);
    expect((await h.area.reports.listReports())[0]).toMatchObject({ kind: 'room', reporter: C, roomId, reason: 'spam room', eventId: null });
    const unknown = await h.req('POST', `${V3}/rooms/${enc('!nope:test.local')}/report`, { token: carol, body: { reason: 'x' } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.errcode).toBe('M_NOT_FOUND');
    expect((await h.req('POST', `${V3}/rooms/${enc(roomId)}/report`, { token: carol, body: {} })).body.errcode).toBe('M_MISSING_PARAM');
    // Added in v1.13: served under v3 only.
    const r0 = await h.req('POST', `/_matrix/client/r0/rooms/${enc(roomId)}/report`, { token: carol, body: { reason: 'x' } });
    expect(r0.status).toBe(404);
    expect(r0.body.errcode).toBe('M_UNRECOGNIZED');
  });

  it('stores user reports of local accounts, and accepts (drops) the rest without telling', async () => {
    const { h, alice, A, B } = await setup();
    const ok = await h.req('POST', `${V3}/users/${enc(B)}/report`, { token: alice, body: { reason: 'harassment' } });
    expect(ok.status).toBe(200);
    expect((await h.area.reports.listReports())[0]).toMatchObject({ kind: 'user', reporter: A, targetUserId: B, reason: 'harassment' });
    for (const who of [`@ghost:${SERVER}`, `@someone:${REMOTE}`]) {
      expect((await h.req('POST', `${V3}/users/${enc(who)}/report`, { token: alice, body: { reason: 'x' } })).status).toBe(200);
    }
    expect(await h.area.reports.listReports()).toHaveLength(1);
    expect((await h.req('POST', `${V3}/users/${enc('not-a-user')}/report`, { token: alice, body: { reason: 'x' } })).status).toBe(400);
    expect((await h.req('POST', `${V3}/users/${enc(B)}/report`, { token: alice, body: { reason: 'x'.repeat(1001) } })).status).toBe(400);
    expect((await h.req('POST', `${V3}/users/${enc(B)}/report`, { token: alice, body: {} })).body.errcode).toBe('M_MISSING_PARAM');
  });
});

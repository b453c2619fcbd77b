// Federation figure (c): fan-out latency of one message to 2 other servers, p50/p99. Three real
// server processes on loopback (HTTPS, the e2e harness); alice on A sends messages one at a time
// to a room joined by bob on B and carol on C, who wait in long-polling /sync; the latency of a
// message is from the start of its PUT on A until both syncs have returned it.
import { api, register, startInstances, type Instance, type TestUser } from '../test/e2e/federation-harness.js';
import { percentile, type Report } from './lib.js';

const WARM_UP = 10;
const MESSAGES = 200;
const enc = encodeURIComponent;
const FILTER = enc(JSON.stringify({ room: { timeline: { limit: 10 }, state: { lazy_load_members: true } }, presence: { types: [] }, account_data: { types: [] } }));

/** Long-polls /sync until the event shows in the room's timeline; resolves with the time it did (ms, hrtime). */
/** The long-poll is already waiting when the message is sent (the event ID is known afterwards). */
async function waitInSync(server: Instance, user: TestUser, since: string, roomId: string, eventId: Promise<string>): Promise<{ at: number; next: string }> {
  let token = since;
  for (;;) {
    const r = await api(server, user.accessToken, 'GET', `/sync?timeout=30000&since=${enc(token)}&filter=${FILTER}`);
    if (r.status !== 200) throw new Error(`/sync on ${server.serverName}: ${r.status} ${JSON.stringify(r.body)}`);
    const at = Number(process.hrtime.bigint()) / 1e6;
    token = r.body.next_batch;
    const events = (r.body.rooms?.join?.[roomId]?.timeline?.events ?? []) as { event_id: string }[];
    const id = await eventId;
    if (events.some((e) => e.event_id === id)) return { at, next: token };
  }
}

export async function fanOutLatency(report: Report): Promise<void> {
  const cluster = await startInstances(3, { logLevel: 'warn' });
  try {
    const [A, B, C] = cluster.servers as [Instance, Instance, Instance];
    const [alice, bob, carol] = await Promise.all([register(A, 'alice'), register(B, 'bob'), register(C, 'carol')]);
    const created = await api(A, alice.accessToken, 'POST', '/createRoom', { preset: 'public_chat', room_version: '10' });
    if (created.status !== 200) throw new Error(`createRoom: ${JSON.stringify(created.body)}`);
    const roomId = created.body.room_id as string;
    for (const [server, user] of [[B, bob], [C, carol]] as const) {
      const j = await api(server, user.accessToken, 'POST', `/join/${enc(roomId)}?server_name=${enc(A.serverName)}`, {});
      if (j.status !== 200) throw new Error(`join on ${server.serverName}: ${JSON.stringify(j.body)}`);
    }
    const tokens = new Map<Instance, string>();
    for (const [server, user] of [[B, bob], [C, carol]] as const) {
      const s = await api(server, user.accessToken, 'GET', `/sync?timeout=0&filter=${FILTER}`);
      tokens.set(server, s.body.next_batch);
    }

    const both: number[] = [];
    const each: number[] = [];
    for (let i = 0; i < WARM_UP + MESSAGES; i++) {
      let eventIdIs!: (id: string) => void;
      const eventId = new Promise<string>((r) => (eventIdIs = r));
      const waits = Promise.all([waitInSync(B, bob, tokens.get(B)!, roomId, eventId), waitInSync(C, carol, tokens.get(C)!, roomId, eventId)]);
      // Let both long-polls reach their servers before sending.
      await new Promise((r) => setTimeout(r, 20));
      const t0 = Number(process.hrtime.bigint()) / 1e6;
      const sent = await api(A, alice.accessToken, 'PUT', `/rooms/${enc(roomId)}/send/m.room.message/fanout-${i}`, { msgtype: 'm.text', body: `message ${i}` });
      if (sent.status !== 200) throw new Error(`send: ${JSON.stringify(sent.body)}`);
      eventIdIs(sent.body.event_id as string);
      const [onB, onC] = await waits;
      tokens.set(B, onB.next);
      tokens.set(C, onC.next);
      if (i < WARM_UP) continue;
      both.push(Math.max(onB.at, onC.at) - t0);
      each.push(onB.at - t0, onC.at - t0);
    }
    report({ name: 'federation fan-out latency to 2 servers, p50 (send on A until in /sync on B and C)', median: percentile(both, 50), unit: 'ms' });
    report({ name: 'federation fan-out latency to 2 servers, p99', median: percentile(both, 99), unit: 'ms' });
    report({ name: 'federation fan-out latency per server, p50', median: percentile(each, 50), unit: 'ms' });
  } finally {
    await cluster.close();
  }
}

// EDUs in PUT /send: typing, receipts, presence, device list and signing key updates, to-device
// messages; a server only speaks for its own users; ACLs on typing and receipts; unknown EDU types
// are ignored without failing the transaction.
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/json/types.js';
import { enc, instance, Network, remotePdu, sendTxn, V3, type Instance } from './federation-inbound-harness.js';
import type { Session } from './users-harness.js';

const HS = 'hs.test';
const REMOTE = 'remote.test';
const REM = `@rem:${REMOTE}`;

async function setup(): Promise<{ net: Network; hs: Instance; alice: Session; roomId: string; remote: { serverName: string; key: any } }> {
  const net = new Network();
  const hs = await instance(net, HS);
  const remote = { serverName: REMOTE, key: net.addKeyOnly(REMOTE) };
  const alice = await hs.register('alice');
  const roomId = await hs.createRoom(alice, { preset: 'public_chat', room_version: '11' });
  const join = await remotePdu(hs, roomId, { sender: REM, type: 'm.room.member', stateKey: REM, content: { membership: 'join' } }, remote);
  expect((await sendTxn(hs, remote, [join.pdu])).body.pdus[join.eventId]).toEqual({});
  return { net, hs, alice, roomId, remote };
}

function edu(type: string, content: JsonObject): JsonObject {
  return { edu_type: type, content };
}

describe('PUT /send: EDUs', () => {
  it('m.typing from the user\'s own server shows in /sync; for another server\'s user it is ignored', async () => {
    const f = await setup();
    const since = (await f.hs.sync(f.alice)).next_batch as string;
    const r = await sendTxn(f.hs, f.remote, [], [
      edu('m.typing', { room_id: f.roomId, user_id: REM, typing: true }),
      edu('m.typing', { room_id: f.roomId, user_id: f.alice.user_id, typing: true }),
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ pdus: {} });
    const sync = await f.hs.sync(f.alice, { since, timeout: '0' });
    const typing = sync.rooms.join[f.roomId].ephemeral.events.find((e: any) => e.type === 'm.typing');
    expect(typing.content.user_ids).toEqual([REM]);
  });

  it('m.typing from a server the room\'s ACL denies is dropped', async () => {
    const f = await setup();
    await f.hs.req('PUT', `${V3}/rooms/${enc(f.roomId)}/state/m.room.server_acl/`, { token: f.alice.access_token, body: { allow: ['*'], deny: [REMOTE] } });
    const since = (await f.hs.sync(f.alice)).next_batch as string;
    await sendTxn(f.hs, f.remote, [], [edu('m.typing', { room_id: f.roomId, user_id: REM, typing: true })]);
    const sync = await f.hs.sync(f.alice, { since, timeout: '0' });
    const typing = sync.rooms?.join?.[f.roomId]?.ephemeral?.events?.find((e: any) => e.type === 'm.typing');
    expect(typing?.content.user_ids ?? []).toEqual([]);
  });

  it('m.receipt: the remote user\'s read receipt appears; one for our user is ignored', async () => {
    const f = await setup();
    const eventId = await f.hs.send(f.alice, f.roomId, 'read me');
    const since = (await f.hs.sync(f.alice)).next_batch as string;
    await sendTxn(f.hs, f.remote, [], [
      edu('m.receipt', {
        [f.roomId]: {
          'm.read': {
            [REM]: { event_ids: [eventId], data: { ts: 1_700_000_000_123 } },
            [f.alice.user_id]: { event_ids: [eventId], data: { ts: 1 } },
          },
        },
      }),
    ]);
    const sync = await f.hs.sync(f.alice, { since, timeout: '0' });
    const receipt = sync.rooms.join[f.roomId].ephemeral.events.find((e: any) => e.type === 'm.receipt');
    expect(receipt.content[eventId]['m.read'][REM]).toEqual({ ts: 1_700_000_000_123 });
    expect(receipt.content[eventId]['m.read'][f.alice.user_id]).toBeUndefined();
  });

  it('m.presence: applied for the origin\'s users only', async () => {
    const f = await setup();
    await sendTxn(f.hs, f.remote, [], [
      edu('m.presence', {
        push: [
          { user_id: REM, presence: 'online', last_active_ago: 1000, currently_active: true, status_msg: 'here' },
          { user_id: '@x:elsewhere.test', presence: 'online', last_active_ago: 0 },
        ],
      }),
    ]);
    const p = await f.hs.req('GET', `${V3}/presence/${enc(REM)}/status`, { token: f.alice.access_token });
    expect(p.body).toMatchObject({ presence: 'online', status_msg: 'here', currently_active: true });
    const other = await f.hs.services.presence!.getPresence(f.alice.user_id, '@x:elsewhere.test').catch(() => ({ presence: 'offline' }));
    expect(other.presence).toBe('offline');
  });

  it('m.device_list_update and m.signing_key_update mark the user as changed for /keys/changes', async () => {
    const f = await setup();
    const since = (await f.hs.sync(f.alice)).next_batch as string;
    await sendTxn(f.hs, f.remote, [], [
      edu('m.device_list_update', { user_id: REM, device_id: 'D1', stream_id: 1, prev_id: [], deleted: false, keys: {} }),
      edu('m.device_list_update', { user_id: '@spoof:elsewhere.test', device_id: 'D1', stream_id: 1 }),
    ]);
    const changes = await f.hs.req('GET', `${V3}/keys/changes?from=${enc(since)}`, { token: f.alice.access_token });
    expect(changes.body.changed).toEqual([REM]);
    const since2 = (await f.hs.sync(f.alice)).next_batch as string;
    await sendTxn(f.hs, f.remote, [], [edu('m.signing_key_update', { user_id: REM, master_key: {} })]);
    const changes2 = await f.hs.req('GET', `${V3}/keys/changes?from=${enc(since2)}`, { token: f.alice.access_token });
    expect(changes2.body.changed).toEqual([REM]);
  });

  it('m.direct_to_device reaches the local device once per message_id; a spoofed sender is ignored', async () => {
    const f = await setup();
    const since = (await f.hs.sync(f.alice)).next_batch as string;
    const toDevice = edu('m.direct_to_device', {
      sender: REM,
      type: 'm.room_key_request',
      message_id: 'm1',
      messages: { [f.alice.user_id]: { [f.alice.device_id]: { action: 'request', n: 1 } } },
    });
    await sendTxn(f.hs, f.remote, [], [toDevice]);
    await sendTxn(f.hs, f.remote, [], [toDevice]); // a retry under a new transaction ID
    await sendTxn(f.hs, f.remote, [], [
      edu('m.direct_to_device', { sender: '@x:elsewhere.test', type: 'm.dummy', message_id: 'm2', messages: { [f.alice.user_id]: { '*': {} } } }),
    ]);
    const sync = await f.hs.sync(f.alice, { since, timeout: '0' });
    expect(sync.to_device.events).toEqual([{ sender: REM, type: 'm.room_key_request', content: { action: 'request', n: 1 } }]);
  });

  it('unknown and malformed EDUs are ignored; the PDUs of the transaction are still handled', async () => {
    const f = await setup();
    const m = await remotePdu(f.hs, f.roomId, { sender: REM, type: 'm.room.message', content: { msgtype: 'm.text', body: 'x' } }, f.remote);
    const r = await sendTxn(f.hs, f.remote, [m.pdu], [
      edu('org.example.unknown', { anything: true }),
      { edu_type: 'm.typing' },
      'garbage',
      edu('m.receipt', { [f.roomId]: 'not an object' }),
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ pdus: { [m.eventId]: {} } });
  });
});

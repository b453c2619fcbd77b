// End-to-end encryption across servers (real processes on loopback, HTTPS): matrix-js-sdk with its
// Rust crypto for alice on A and bob on B. Device keys are queried and one-time keys claimed over
// federation (/user/keys/query, /user/keys/claim), room keys travel as to-device messages
// (m.direct_to_device EDUs), and each side decrypts the other's messages in an encrypted room.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientEvent, createClient, EventType, MatrixEventEvent, RoomEvent, type MatrixClient, type MatrixEvent } from 'matrix-js-sdk';
import { fetch as undiciFetch } from 'undici';
import { api, insecureAgent, register, startInstances, type Instance, type Instances } from './federation-harness.js';
import { sdkLogger, startSyncing, waitUntil } from './js-sdk-harness.js';

/** The SDK's fetch: TLS without certificate checks (the instances' certificate is self-signed). */
const insecureFetch = ((input: string | URL, init?: RequestInit) =>
  undiciFetch(input as string, { ...(init as object), dispatcher: insecureAgent } as never)) as unknown as typeof globalThis.fetch;

let cluster: Instances;
let A: Instance;
let B: Instance;
const clients: MatrixClient[] = [];

interface CryptoUser {
  client: MatrixClient;
  userId: string;
  deviceId: string;
}

async function cryptoClient(server: Instance, localpart: string): Promise<CryptoUser> {
  const user = await register(server, localpart);
  const client = createClient({
    baseUrl: server.baseUrl,
    fetchFn: insecureFetch,
    userId: user.userId,
    deviceId: user.deviceId,
    accessToken: user.accessToken,
    logger: sdkLogger(`[${user.userId}]`),
  });
  clients.push(client);
  await client.initRustCrypto({ useIndexedDB: false });
  await startSyncing(client);
  return { client, userId: user.userId, deviceId: user.deviceId };
}

function decrypted(who: CryptoUser, roomId: string, eventId: string, what: string): Promise<MatrixEvent> {
  return waitUntil(
    who.client,
    [RoomEvent.Timeline, MatrixEventEvent.Decrypted],
    () => {
      const ev = who.client.getRoom(roomId)?.findEventById(eventId);
      if (!ev || ev.isBeingDecrypted() || ev.isDecryptionFailure()) return undefined;
      return ev.getClearContent() ? ev : undefined;
    },
    what,
    60_000,
  );
}

beforeAll(async () => {
  cluster = await startInstances(2);
  [A, B] = cluster.servers as [Instance, Instance];
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.stopClient();
  await cluster?.close();
}, 60_000);

describe('end-to-end encryption across servers', () => {
  it('alice on A and bob on B exchange encrypted messages and each decrypts the other\'s', async () => {
    const [alice, bob] = await Promise.all([cryptoClient(A, 'alice'), cryptoClient(B, 'bob')]);

    const created = await alice.client.createRoom({
      invite: [bob.userId],
      initial_state: [{ type: EventType.RoomEncryption, state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    const roomId = created.room_id;
    await waitUntil(bob.client, [ClientEvent.Room, RoomEvent.MyMembership], () => bob.client.getRoom(roomId)?.getMyMembership() === 'invite', 'bob to see the invite', 60_000);
    await bob.client.joinRoom(roomId);
    await waitUntil(alice.client, [ClientEvent.Sync], () => alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === 'join', "alice to see bob's join", 60_000);
    await waitUntil(bob.client, [ClientEvent.Sync], async () => await bob.client.getCrypto()!.isEncryptionEnabledInRoom(roomId), 'bob to see the room encrypted', 60_000);
    // Each sees the other's device, learnt through /user/keys/query over federation.
    const bobDevices = await alice.client.getCrypto()!.getUserDeviceInfo([bob.userId], true);
    expect(bobDevices.get(bob.userId)?.get(bob.deviceId)?.getIdentityKey()).toMatch(/^[A-Za-z0-9+/]{43}$/);
    const aliceDevices = await bob.client.getCrypto()!.getUserDeviceInfo([alice.userId], true);
    expect(aliceDevices.get(alice.userId)?.has(alice.deviceId)).toBe(true);

    const a1 = (await alice.client.sendTextMessage(roomId, 'secret from alice')).event_id;
    const onBob = await decrypted(bob, roomId, a1, "bob to decrypt alice's message");
    expect(onBob.getWireType()).toBe(EventType.RoomMessageEncrypted);
    expect(onBob.getContent().body).toBe('secret from alice');
    expect(onBob.getSender()).toBe(alice.userId);

    const b1 = (await bob.client.sendTextMessage(roomId, 'secret from bob')).event_id;
    const onAlice = await decrypted(alice, roomId, b1, "alice to decrypt bob's message");
    expect(onAlice.getContent().body).toBe('secret from bob');

    // Neither server saw the plaintext.
    for (const [server, token, id] of [
      [A, alice.client.getAccessToken()!, b1],
      [B, bob.client.getAccessToken()!, a1],
    ] as const) {
      const raw = await api(server, token, 'GET', `/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(id)}`);
      expect(raw.body.type).toBe('m.room.encrypted');
      expect(JSON.stringify(raw.body)).not.toContain('secret from');
    }
  }, 240_000);
});

// matrix-js-sdk with its Rust crypto (@matrix-org/matrix-sdk-crypto-wasm, in-memory stores) against a
// real listening server: two users exchange messages in an encrypted room and each decrypts the
// other's; a new device of one user gets the keys of new messages; cross-signing bootstrap through
// UIA with the password stage, seen by the other user.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientEvent, EventType, MatrixError, MatrixEventEvent, RoomEvent, type AuthDict, type MatrixClient, type MatrixEvent } from 'matrix-js-sdk';
import { CryptoEvent } from 'matrix-js-sdk/lib/crypto-api/index.js';
import { badRequests, loginClient, registerUser, startSyncing, startTestServer, waitUntil, type LoggedIn, type TestServer } from './js-sdk-harness.js';

let server: TestServer;
let alice: LoggedIn;
let bob: LoggedIn;
const clients: LoggedIn[] = [];
let roomId: string;
const PASSWORDS: Record<string, string> = { alice: 'alice secret', bob: 'bob secret' };

/** A client with the SDK's Rust crypto on a fresh in-memory store, syncing. */
async function cryptoClient(localpart: string, deviceDisplayName: string): Promise<LoggedIn> {
  const who = await loginClient(server.baseUrl, localpart, PASSWORDS[localpart]!, { deviceDisplayName });
  clients.push(who);
  await who.client.initRustCrypto({ useIndexedDB: false });
  await startSyncing(who.client);
  return who;
}

/**
 * The decrypted copy of `eventId` on `who`'s client: waits for it in the room's timeline and for
 * MatrixEventEvent.Decrypted (or an already-finished decryption).
 */
function decrypted(who: LoggedIn, eventId: string, what: string): Promise<MatrixEvent> {
  return waitUntil(
    who.client,
    [RoomEvent.Timeline, MatrixEventEvent.Decrypted],
    () => {
      const ev = who.client.getRoom(roomId)?.findEventById(eventId);
      if (!ev || ev.isBeingDecrypted() || ev.isDecryptionFailure()) return undefined;
      return ev.getClearContent() ? ev : undefined;
    },
    what,
  );
}

/**
 * UIA for /keys/device_signing/upload: try without auth; on a 401 offering m.login.password, prove
 * the password with the session it gave.
 */
function passwordAuth(userId: string, password: string) {
  let sent = 0;
  const callback = async (makeRequest: (auth: AuthDict | null) => Promise<void>): Promise<void> => {
    let session: string | undefined;
    try {
      await makeRequest(null);
      return;
    } catch (e) {
      if (!(e instanceof MatrixError) || e.httpStatus !== 401) throw e;
      const data = e.data as { flows?: { stages: string[] }[]; session?: string };
      expect((data.flows ?? []).some((f) => f.stages.includes('m.login.password'))).toBe(true);
      session = data.session;
      expect(session).toBeTruthy();
    }
    sent++;
    await makeRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: userId }, password, session });
  };
  return { callback, passwordsSent: () => sent };
}

beforeAll(async () => {
  server = await startTestServer();
  await registerUser(server.baseUrl, 'alice', PASSWORDS.alice!);
  await registerUser(server.baseUrl, 'bob', PASSWORDS.bob!);
  [alice, bob] = await Promise.all([cryptoClient('alice', 'alice laptop'), cryptoClient('bob', 'bob laptop')]);
}, 90_000);

afterAll(async () => {
  for (const c of clients) c.client.stopClient();
  await server?.close();
});

async function send(from: MatrixClient, body: string): Promise<string> {
  return (await from.sendTextMessage(roomId, body)).event_id;
}

describe('end-to-end encryption with the Rust crypto', () => {
  it('each client uploaded its device keys and one-time keys, and sees the other device', async () => {
    const aliceDevices = await bob.client.getCrypto()!.getUserDeviceInfo([alice.userId], true);
    const device = aliceDevices.get(alice.userId)?.get(alice.deviceId);
    expect(device?.displayName).toBe('alice laptop');
    expect(device?.getIdentityKey()).toMatch(/^[A-Za-z0-9+/]{43}$/);
    const counts = await fetch(`${server.baseUrl}/_matrix/client/v3/keys/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.accessToken}`, 'content-type': 'application/json' },
      body: '{}',
    });
    const { one_time_key_counts } = (await counts.json()) as { one_time_key_counts: Record<string, number> };
    expect(one_time_key_counts.signed_curve25519).toBeGreaterThan(0);
  });

  it('an encrypted room: messages both ways, each side decrypts the other', async () => {
    const created = await alice.client.createRoom({
      invite: [bob.userId],
      initial_state: [{ type: EventType.RoomEncryption, state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    roomId = created.room_id;
    await waitUntil(bob.client, [ClientEvent.Room, RoomEvent.MyMembership], () => bob.client.getRoom(roomId)?.getMyMembership() === 'invite', 'bob to see the invite');
    await bob.client.joinRoom(roomId);
    // Alice must know bob is joined before she shares the room key with his device.
    await waitUntil(alice.client, [ClientEvent.Sync], () => alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === 'join', "alice to see bob's join");
    expect(await alice.client.getCrypto()!.isEncryptionEnabledInRoom(roomId)).toBe(true);
    expect(await bob.client.getCrypto()!.isEncryptionEnabledInRoom(roomId)).toBe(true);

    const a1 = await send(alice.client, 'secret from alice');
    const onBob = await decrypted(bob, a1, "bob to decrypt alice's message");
    expect(onBob.isEncrypted()).toBe(true);
    expect(onBob.getWireType()).toBe(EventType.RoomMessageEncrypted);
    expect(onBob.getType()).toBe(EventType.RoomMessage);
    expect(onBob.getContent().body).toBe('secret from alice');
    expect(onBob.getSender()).toBe(alice.userId);

    const b1 = await send(bob.client, 'secret from bob');
    const onAlice = await decrypted(alice, b1, "alice to decrypt bob's message");
    expect(onAlice.isEncrypted()).toBe(true);
    expect(onAlice.getContent().body).toBe('secret from bob');

    // The server only ever saw ciphertext.
    const raw = await fetch(`${server.baseUrl}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(b1)}`, {
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    const rawEvent = (await raw.json()) as { type: string; content: { algorithm: string; ciphertext: string } };
    expect(rawEvent.type).toBe('m.room.encrypted');
    expect(rawEvent.content.algorithm).toBe('m.megolm.v1.aes-sha2');
    expect(JSON.stringify(rawEvent)).not.toContain('secret from bob');
  });

  it('encryption turned on later with an m.room.encryption state event: the next messages are encrypted and decrypted', async () => {
    const plainRoom = (await bob.client.createRoom({ invite: [alice.userId] })).room_id;
    await waitUntil(alice.client, [ClientEvent.Room, RoomEvent.MyMembership], () => alice.client.getRoom(plainRoom)?.getMyMembership() === 'invite', 'alice to see the invite');
    await alice.client.joinRoom(plainRoom);
    await waitUntil(bob.client, [ClientEvent.Sync], () => bob.client.getRoom(plainRoom)?.getMember(alice.userId)?.membership === 'join', "bob to see alice's join");
    expect(await bob.client.getCrypto()!.isEncryptionEnabledInRoom(plainRoom)).toBe(false);

    await bob.client.sendStateEvent(plainRoom, EventType.RoomEncryption, { algorithm: 'm.megolm.v1.aes-sha2' } as never, '');
    await waitUntil(alice.client, [ClientEvent.Sync], async () => await alice.client.getCrypto()!.isEncryptionEnabledInRoom(plainRoom), 'alice to see encryption enabled');
    await waitUntil(bob.client, [ClientEvent.Sync], async () => await bob.client.getCrypto()!.isEncryptionEnabledInRoom(plainRoom), 'bob to see encryption enabled');

    const sent = await bob.client.sendTextMessage(plainRoom, 'encrypted from now on');
    const onAlice = await waitUntil(
      alice.client,
      [RoomEvent.Timeline, MatrixEventEvent.Decrypted],
      () => {
        const ev = alice.client.getRoom(plainRoom)?.findEventById(sent.event_id);
        return ev && !ev.isBeingDecrypted() && !ev.isDecryptionFailure() && ev.getClearContent() ? ev : undefined;
      },
      "alice to decrypt bob's first encrypted message",
    );
    expect(onAlice.getWireType()).toBe(EventType.RoomMessageEncrypted);
    expect(onAlice.getContent().body).toBe('encrypted from now on');
  });

  it('cross-signing bootstrap, then a reset through UIA with the password stage; bob sees her keys', async () => {
    const crypto = alice.client.getCrypto()!;
    expect(await crypto.isCrossSigningReady()).toBe(false);
    const auth = passwordAuth(alice.userId, PASSWORDS.alice!);
    // Spec v1.11: the first upload of cross-signing keys needs no UIA (no master key on the server yet).
    await crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: auth.callback });
    expect(await crypto.isCrossSigningReady()).toBe(true);
    const status = await crypto.getCrossSigningStatus();
    expect(status.publicKeysOnDevice).toBe(true);
    expect(status.privateKeysCachedLocally).toEqual({ masterKey: true, selfSigningKey: true, userSigningKey: true });
    // Her own device is signed by her self-signing key (POST /keys/signatures/upload).
    expect((await crypto.getDeviceVerificationStatus(alice.userId, alice.deviceId))?.crossSigningVerified).toBe(true);
    const firstMaster = await crypto.getCrossSigningKeyId();
    expect(firstMaster).toMatch(/^[A-Za-z0-9+/]{43}$/);

    // Replacing them requires UIA: a 401 with the password flow, then the password proves it.
    await crypto.bootstrapCrossSigning({ setupNewCrossSigning: true, authUploadDeviceSigningKeys: auth.callback });
    expect(auth.passwordsSent()).toBe(1);
    const uploads = alice.requests.filter((r) => r.path.endsWith('/keys/device_signing/upload')).map((r) => r.status);
    expect(uploads).toEqual([200, 401, 200]);
    expect(alice.requests.filter((r) => r.path.endsWith('/keys/signatures/upload') && r.status === 200).length).toBeGreaterThanOrEqual(2);
    const secondMaster = await crypto.getCrossSigningKeyId();
    expect(secondMaster).not.toBe(firstMaster);
    expect(await crypto.isCrossSigningReady()).toBe(true);
    expect((await crypto.getDeviceVerificationStatus(alice.userId, alice.deviceId))?.crossSigningVerified).toBe(true);

    // Bob reads her current master and self-signing keys through /keys/query.
    const bobCrypto = bob.client.getCrypto()!;
    expect(await bobCrypto.userHasCrossSigningKeys(alice.userId, true)).toBe(true);
    const query = await fetch(`${server.baseUrl}/_matrix/client/v3/keys/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bob.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ device_keys: { [alice.userId]: [] } }),
    });
    const keys = (await query.json()) as { master_keys: Record<string, { keys: Record<string, string> }> };
    expect(Object.values(keys.master_keys[alice.userId]!.keys)).toEqual([secondMaster]);
    // Known, not trusted: bob has not verified her.
    expect((await bobCrypto.getUserVerificationStatus(alice.userId)).isVerified()).toBe(false);
  });

  it("alice's new device logs in, gets keys for new messages from bob and from her old device", async () => {
    const alice2 = await cryptoClient('alice', 'alice phone');
    expect(alice2.deviceId).not.toBe(alice.deviceId);
    // Bob's client learns of the new device through device_lists.changed and /keys/query.
    const newDevice = await waitUntil(
      bob.client,
      [CryptoEvent.DevicesUpdated],
      async () => (await bob.client.getCrypto()!.getUserDeviceInfo([alice.userId])).get(alice.userId)?.get(alice2.deviceId),
      "bob's client to learn of alice's new device",
    );
    expect(newDevice.displayName).toBe('alice phone');

    const b2 = await send(bob.client, 'for both of your devices');
    const onNew = await decrypted(alice2, b2, "alice's new device to decrypt bob's message");
    expect(onNew.getContent().body).toBe('for both of your devices');
    const onOld = await decrypted(alice, b2, "alice's old device to decrypt it too");
    expect(onOld.getContent().body).toBe('for both of your devices');

    const a2 = await send(alice.client, 'from the laptop');
    expect((await decrypted(alice2, a2, "alice's new device to decrypt her laptop's message")).getContent().body).toBe('from the laptop');
    expect((await decrypted(bob, a2, 'bob to decrypt it')).getContent().body).toBe('from the laptop');

    const a3 = await send(alice2.client, 'from the phone');
    expect((await decrypted(bob, a3, "bob to decrypt the phone's message")).getContent().body).toBe('from the phone');
    expect((await decrypted(alice, a3, "alice's laptop to decrypt the phone's message")).getContent().body).toBe('from the phone');
  });

  it('no request any client made got a 5xx or an unexpected 404', () => {
    const bad = clients.flatMap((c) => badRequests(c.requests));
    expect(bad).toEqual([]);
  });
});

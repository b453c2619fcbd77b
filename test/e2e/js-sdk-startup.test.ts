// The start-up calls Element makes (clients-in-practice.md, "What a first sync session looks like"),
// made by matrix-js-sdk with its Rust crypto against a real listening server: /versions, /login,
// /capabilities, /pushrules/, POST filter, /sync with the filter id, /members, /keys/upload,
// /keys/query, account data writes, /profile, read markers; none got a 5xx or an unexpected 404.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientEvent, EventType, RoomEvent } from 'matrix-js-sdk';
import {
  badRequests,
  loginClient,
  registerUser,
  startSyncing,
  startTestServer,
  waitUntil,
  type LoggedIn,
  type RecordedRequest,
  type TestServer,
} from './js-sdk-harness.js';

let server: TestServer;
let bob: LoggedIn;
let alice: LoggedIn;
let roomId: string;
let lastMessageId: string;

beforeAll(async () => {
  server = await startTestServer();
  await registerUser(server.baseUrl, 'alice', 'alice pw');
  await registerUser(server.baseUrl, 'bob', 'bob pw');
  // Bob's room, with alice in it and some history, exists before alice's session starts.
  bob = await loginClient(server.baseUrl, 'bob', 'bob pw');
  await bob.client.setDisplayName('Bob B.');
  roomId = (await bob.client.createRoom({ name: 'Start-up room', invite: ['@alice:' + server.serverName] })).room_id;
  const aliceJoin = await loginClient(server.baseUrl, 'alice', 'alice pw');
  await aliceJoin.client.joinRoom(roomId);
  for (let i = 0; i < 5; i++) lastMessageId = (await bob.client.sendTextMessage(roomId, `before you came ${i}`)).event_id;

  // Alice's Element-like session: discovery, login, Rust crypto, lazy-loading sync.
  alice = await loginClient(server.baseUrl, 'alice', 'alice pw', { discover: true, deviceDisplayName: 'Element (test)' });
  await alice.client.initRustCrypto({ useIndexedDB: false });
  await startSyncing(alice.client, { lazyLoadMembers: true });
}, 60_000);

afterAll(async () => {
  alice?.client.stopClient();
  bob?.client.stopClient();
  await server?.close();
});

function ok(r: RecordedRequest): boolean {
  return r.status >= 200 && r.status < 300;
}

function made(method: string, path: RegExp): RecordedRequest[] {
  return alice.requests.filter((r) => r.method === method && path.test(r.path));
}

/** Waits until alice's client has made a successful request matching method and path. */
function madeOk(method: string, path: RegExp, what: string): Promise<RecordedRequest> {
  return waitUntil(alice.requestEvents, ['request'], () => made(method, path).find(ok), what);
}

const CS = '/_matrix/client';

describe('an Element-like first session', () => {
  it('discovers the server and logs in: /versions, GET and POST /login', () => {
    expect(made('GET', /^\/_matrix\/client\/versions$/).filter(ok).length).toBeGreaterThanOrEqual(1);
    expect(made('GET', /^\/_matrix\/client\/v3\/login$/).filter(ok)).toHaveLength(1);
    expect(made('POST', /^\/_matrix\/client\/v3\/login$/).filter(ok)).toHaveLength(1);
  });

  it('reads capabilities and push rules, and creates the filter its /sync uses', async () => {
    await madeOk('GET', /^\/_matrix\/client\/v3\/capabilities$/, 'GET /capabilities');
    expect(made('GET', /^\/_matrix\/client\/v3\/pushrules\/$/).filter(ok).length).toBeGreaterThanOrEqual(1);
    expect(alice.client.pushRules?.global.override?.some((r) => r.rule_id === '.m.rule.master')).toBe(true);

    const filterPost = made('POST', new RegExp(`^${CS}/v3/user/${encodeURIComponent(alice.userId).replace(/[.%]/g, '\\$&')}/filter$`)).filter(ok);
    expect(filterPost).toHaveLength(1);
    // The SDK's first /sync carries its filter inline (JSON); the later ones name the stored filter.
    const syncs = made('GET', /^\/_matrix\/client\/v3\/sync$/);
    const inline = JSON.parse(syncs[0]!.query.get('filter')!) as { room?: { state?: { lazy_load_members?: boolean } } };
    expect(inline.room?.state?.lazy_load_members).toBe(true);
    const storedId = (filterPost[0]!.responseJson as { filter_id: string }).filter_id;
    expect(typeof storedId).toBe('string');
    // Activity in the room ends alice's waiting /sync, which named the filter by its id.
    await bob.client.sendTextMessage(roomId, 'wake up');
    const later = await waitUntil(
      alice.requestEvents,
      ['request'],
      () => made('GET', /^\/_matrix\/client\/v3\/sync$/).find((r) => r.query.get('filter') === storedId && ok(r)),
      'a /sync naming the stored filter',
    );
    expect(later.query.get('since')).toBeTruthy();
    // The id is one the server stored: reading it back gives the lazy-loading filter the SDK built.
    const filter = await alice.client.getFilter(alice.userId, storedId, false);
    expect(filter.getDefinition().room?.state?.lazy_load_members).toBe(true);
    expect(made('GET', /^\/_matrix\/client\/v3\/sync$/).every(ok)).toBe(true);
  });

  it('lazy-loaded members: the room shows the senders first, /members brings the rest', async () => {
    const room = await waitUntil(alice.client, [ClientEvent.Room], () => alice.client.getRoom(roomId), 'the room in the first sync');
    expect(room.name).toBe('Start-up room');
    expect(room.findEventById(lastMessageId)?.getContent().body).toBe('before you came 4');
    await room.loadMembersIfNeeded();
    const members = made('GET', /^\/_matrix\/client\/v3\/rooms\/[^/]+\/members$/).filter(ok);
    expect(members.length).toBe(1);
    expect(members[0]!.query.get('at')).toBeTruthy();
    expect(room.getMember(bob.userId)?.name).toBe('Bob B.');
    expect(room.getJoinedMembers().map((m) => m.userId).sort()).toEqual([alice.userId, bob.userId].sort());
  });

  it('uploads its device keys and one-time keys, and queries its own keys', async () => {
    await madeOk('POST', /^\/_matrix\/client\/v3\/keys\/upload$/, 'POST /keys/upload');
    await madeOk('POST', /^\/_matrix\/client\/v3\/keys\/query$/, 'POST /keys/query');
    const devices = await alice.client.getCrypto()!.getUserDeviceInfo([alice.userId], true);
    expect(devices.get(alice.userId)?.get(alice.deviceId)?.displayName).toBe('Element (test)');
  });

  it('writes account data, global and per-device, and gets it back through sync', async () => {
    const perDevice = `org.matrix.msc3890.local_notification_settings.${alice.deviceId}`;
    const synced = waitUntil(
      alice.client,
      [ClientEvent.AccountData],
      () => alice.client.getAccountData('im.vector.setting.breadcrumbs' as never)?.getContent().recent_rooms?.[0] === roomId && alice.client.getAccountData(perDevice as never),
      'the account data to come back through sync',
    );
    await alice.client.setAccountData('im.vector.setting.breadcrumbs' as never, { recent_rooms: [roomId] } as never);
    await alice.client.setAccountData(perDevice as never, { is_silenced: false } as never);
    await alice.client.setAccountData(EventType.Direct, {} as never);
    await synced;
    expect(made('PUT', /\/account_data\//).every(ok)).toBe(true);
    expect(made('PUT', /\/account_data\//)).toHaveLength(3);
  });

  it("reads profiles: her own and bob's", async () => {
    expect(await alice.client.getProfileInfo(bob.userId)).toEqual({ displayname: 'Bob B.' });
    const own = await alice.client.getProfileInfo(alice.userId);
    expect(own).toEqual({ displayname: 'alice' });
  });

  it('sets read markers (fully read + read receipt) and bob sees the receipt', async () => {
    const room = alice.client.getRoom(roomId)!;
    const event = room.findEventById(lastMessageId)!;
    await alice.client.setRoomReadMarkers(roomId, lastMessageId, event);
    expect(made('POST', /^\/_matrix\/client\/v3\/rooms\/[^/]+\/read_markers$/).filter(ok)).toHaveLength(1);
    await waitUntil(alice.client, [RoomEvent.AccountData], () => room.getAccountData(EventType.FullyRead)?.getContent().event_id === lastMessageId, 'the fully-read marker');
    // Bob, reading /sync, sees alice's public receipt.
    await bob.client.startClient({ initialSyncLimit: 10 });
    await waitUntil(bob.client, [ClientEvent.Sync, RoomEvent.Receipt], () => bob.client.getRoom(roomId)?.getEventReadUpTo(alice.userId) === lastMessageId, "bob to see alice's receipt");
  });

  it('no request of the session got a 5xx or an unexpected 404', () => {
    expect(badRequests(alice.requests)).toEqual([]);
    expect(badRequests(bob.requests)).toEqual([]);
    // And nothing else failed either, apart from probes and the cross-signing/backup lookups of a new account.
    const otherFailures = alice.requests.filter((r) => r.status >= 400 && r.status !== 404);
    expect(otherFailures).toEqual([]);
  });
});

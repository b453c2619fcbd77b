// matrix-js-sdk media against a real listening server: an image uploaded with uploadContent is sent
// in a room; the other member, reading the m.image event from his sync, downloads it byte-identical
// through the authenticated URL the SDK builds and fetches thumbnails that decode at the requested
// sizes; an encrypted attachment (opaque bytes) round-trips unchanged.
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientEvent, EventType, MsgType, RoomEvent, type MatrixEvent } from 'matrix-js-sdk';
import { badRequests, loginClient, registerUser, startSyncing, startTestServer, waitUntil, type LoggedIn, type TestServer } from './js-sdk-harness.js';

let server: TestServer;
let alice: LoggedIn;
let bob: LoggedIn;
let roomId: string;

beforeAll(async () => {
  server = await startTestServer();
  await registerUser(server.baseUrl, 'alice', 'alice pw');
  await registerUser(server.baseUrl, 'bob', 'bob pw');
  alice = await loginClient(server.baseUrl, 'alice', 'alice pw');
  bob = await loginClient(server.baseUrl, 'bob', 'bob pw');
  await Promise.all([startSyncing(alice.client), startSyncing(bob.client)]);
  roomId = (await alice.client.createRoom({ invite: [bob.userId] })).room_id;
  await waitUntil(bob.client, [ClientEvent.Room, RoomEvent.MyMembership], () => bob.client.getRoom(roomId)?.getMyMembership() === 'invite', 'the invite');
  await bob.client.joinRoom(roomId);
}, 60_000);

afterAll(async () => {
  alice?.client.stopClient();
  bob?.client.stopClient();
  await server?.close();
});

/** GET with the user's token in the Authorization header, as clients fetch authenticated media. */
async function authedGet(who: LoggedIn, url: string): Promise<Response> {
  return fetch(url, { headers: { authorization: `Bearer ${who.accessToken}` } });
}

describe('media through matrix-js-sdk', () => {
  let imageEvent: MatrixEvent;
  let image: Buffer;

  it('an image uploaded with uploadContent and sent as m.image reaches the other member', async () => {
    // A photo-like 800x600 JPEG (a gradient, so the encoder has real work to do).
    const raw = Buffer.alloc(800 * 600 * 3);
    for (let y = 0; y < 600; y++) for (let x = 0; x < 800; x++) raw.set([x % 256, y % 256, (x + y) % 256], (y * 800 + x) * 3);
    image = await sharp(raw, { raw: { width: 800, height: 600, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();

    const uploaded = await alice.client.uploadContent(image, { name: 'photo.jpg', type: 'image/jpeg' });
    expect(uploaded.content_uri).toMatch(new RegExp(`^mxc://${server.serverName.replace(/[.]/g, '\\.')}/[A-Za-z0-9_-]+$`));
    const sent = await alice.client.sendMessage(roomId, {
      msgtype: MsgType.Image,
      body: 'photo.jpg',
      url: uploaded.content_uri,
      info: { mimetype: 'image/jpeg', size: image.length, w: 800, h: 600 },
    } as never);
    imageEvent = await waitUntil(bob.client, [RoomEvent.Timeline], () => bob.client.getRoom(roomId)?.findEventById(sent.event_id), 'bob to receive the image');
    expect(imageEvent.getContent().url).toBe(uploaded.content_uri);
  });

  it('bob downloads it byte-identical through the authenticated URL the SDK builds', async () => {
    const mxc = imageEvent.getContent().url as string;
    const url = bob.client.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true)!;
    expect(new URL(url).pathname).toMatch(/^\/_matrix\/client\/v1\/media\/download\//);
    const res = await authedGet(bob, url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBe(image.length);
    expect(body.equals(image)).toBe(true);
    // Without a token the authenticated endpoint refuses.
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { errcode: string }).errcode).toBe('M_MISSING_TOKEN');
  });

  it('thumbnails decode as images of the requested sizes (scale and crop)', async () => {
    const mxc = imageEvent.getContent().url as string;
    for (const [w, h, method] of [
      [320, 240, 'scale'],
      [96, 96, 'crop'],
    ] as const) {
      const url = bob.client.mxcUrlToHttp(mxc, w, h, method, false, true, true)!;
      expect(new URL(url).pathname).toMatch(/^\/_matrix\/client\/v1\/media\/thumbnail\//);
      const res = await authedGet(bob, url);
      expect(res.status).toBe(200);
      const bytes = Buffer.from(await res.arrayBuffer());
      const meta = await sharp(bytes).metadata();
      expect({ width: meta.width, height: meta.height }).toEqual({ width: w, height: h });
      expect(res.headers.get('content-type')).toBe(`image/${meta.format === 'jpeg' ? 'jpeg' : meta.format}`);
      // It really is a picture: sharp decodes every pixel.
      const { info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([w, h]);
    }
  });

  it('an encrypted attachment (opaque bytes) round-trips unchanged', async () => {
    // What E2EE clients upload: AES-CTR ciphertext, sent as application/octet-stream.
    const ciphertext = randomBytes(1024 * 1024 + 17);
    const uploaded = await alice.client.uploadContent(ciphertext, { type: 'application/octet-stream', includeFilename: false });
    const res = await authedGet(bob, bob.client.mxcUrlToHttp(uploaded.content_uri, undefined, undefined, undefined, false, true, true)!);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(ciphertext)).toBe(true);
  });

  it('no request either client made got a 5xx or an unexpected 404', () => {
    expect([...badRequests(alice.requests), ...badRequests(bob.requests)]).toEqual([]);
    expect(imageEvent.getType()).toBe(EventType.RoomMessage);
  });
});

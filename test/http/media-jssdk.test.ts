// matrix-js-sdk against the media repository of a real running server: uploadContent, then the
// download and thumbnail URLs the SDK builds (authenticated media, and the legacy ones it still
// builds without authentication), fetched as a web client would.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginClient, registerUser, startTestServer, type LoggedIn, type TestServer } from '../e2e/js-sdk-harness.js';

let server: TestServer;
let alice: LoggedIn;

beforeAll(async () => {
  server = await startTestServer();
  await registerUser(server.baseUrl, 'alice', 'alice password');
  alice = await loginClient(server.baseUrl, 'alice', 'alice password');
}, 60_000);
afterAll(async () => {
  alice?.client.stopClient();
  await server?.close();
});

describe('matrix-js-sdk media', () => {
  it('uploads with uploadContent and downloads through the URLs the SDK builds', async () => {
    const image = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#3366cc' } }).png().toBuffer();
    const res = await alice.client.uploadContent(image, { name: 'blue image.png', type: 'image/png' });
    expect(res.content_uri).toMatch(new RegExp(`^mxc://${server.serverName}/[A-Za-z0-9]{24}$`));

    // Authenticated media: the token goes in the Authorization header, as clients send it.
    const authed = alice.client.mxcUrlToHttp(res.content_uri, undefined, undefined, undefined, false, true, true)!;
    expect(authed).toContain('/_matrix/client/v1/media/download/');
    const d = await fetch(authed, { headers: { authorization: `Bearer ${alice.accessToken}` } });
    expect(d.status).toBe(200);
    expect(Buffer.from(await d.arrayBuffer()).equals(image)).toBe(true);
    expect(d.headers.get('content-disposition')).toBe("inline; filename*=utf-8''blue%20image.png");
    expect((await fetch(authed)).status).toBe(401);

    const thumbUrl = alice.client.mxcUrlToHttp(res.content_uri, 96, 96, 'crop', false, true, true)!;
    const t = await fetch(thumbUrl, { headers: { authorization: `Bearer ${alice.accessToken}` } });
    expect(t.status).toBe(200);
    const meta = await sharp(Buffer.from(await t.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 96, 96]);

    // Legacy URL (older clients): still served.
    const legacy = alice.client.mxcUrlToHttp(res.content_uri)!;
    expect(legacy).toContain('/_matrix/media/v3/download/');
    const l = await fetch(legacy);
    expect(l.status).toBe(200);
    expect(Buffer.from(await l.arrayBuffer()).equals(image)).toBe(true);

    const cfg = await alice.client.getMediaConfig(true);
    expect(cfg['m.upload.size']).toBe(50 * 1024 * 1024);
  });
});

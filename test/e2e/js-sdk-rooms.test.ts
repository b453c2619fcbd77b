// matrix-js-sdk against a real listening server with a fresh database: two users register through
// UIA, log in, create a room, invite, join, exchange messages, edit, react, redact, name and topic,
// typing and receipts, paginate back, leave; all seen through the SDK's own sync loop and events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientEvent,
  Direction,
  EventType,
  MatrixEventEvent,
  RelationType,
  RoomEvent,
  RoomMemberEvent,
  RoomStateEvent,
  type MatrixClient,
  type MatrixEvent,
  type Room,
} from 'matrix-js-sdk';
import {
  badRequests,
  loginClient,
  nextEmit,
  registerUser,
  startSyncing,
  startTestServer,
  waitUntil,
  type LoggedIn,
  type TestServer,
} from './js-sdk-harness.js';

let server: TestServer;
let alice: LoggedIn;
let bob: LoggedIn;
const clients: LoggedIn[] = [];
let roomId: string;

const TIMELINE_EVENTS = [RoomEvent.Timeline, RoomEvent.LocalEchoUpdated, MatrixEventEvent.Replaced, RoomEvent.Redaction];

/** The event with this ID in the room's live timeline as the client sees it. */
function liveEvent(client: MatrixClient, eventId: string): MatrixEvent | undefined {
  return client
    .getRoom(roomId)
    ?.getLiveTimeline()
    .getEvents()
    .find((e) => e.getId() === eventId);
}

function waitForEvent(who: LoggedIn, eventId: string, what: string): Promise<MatrixEvent> {
  return waitUntil(who.client, TIMELINE_EVENTS, () => liveEvent(who.client, eventId), what);
}

function bodies(room: Room): string[] {
  return room
    .getLiveTimeline()
    .getEvents()
    .filter((e) => e.getType() === EventType.RoomMessage && !e.isRedacted())
    .map((e) => e.getContent().body as string);
}

beforeAll(async () => {
  server = await startTestServer();
  for (const name of ['alice', 'bob']) {
    const { userId } = await registerUser(server.baseUrl, name, `${name}-password`);
    expect(userId).toBe(`@${name}:${server.serverName}`);
  }
  alice = await loginClient(server.baseUrl, 'alice', 'alice-password', { deviceDisplayName: 'alice laptop' });
  bob = await loginClient(server.baseUrl, 'bob', 'bob-password');
  clients.push(alice, bob);
  await Promise.all([startSyncing(alice.client), startSyncing(bob.client)]);
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.client.stopClient();
  await server?.close();
});

describe('two matrix-js-sdk clients in one room', () => {
  it('registration refuses a taken name and login refuses a wrong password', async () => {
    await expect(registerUser(server.baseUrl, 'alice', 'other')).rejects.toMatchObject({ errcode: 'M_USER_IN_USE' });
    await expect(loginClient(server.baseUrl, 'alice', 'wrong')).rejects.toMatchObject({ errcode: 'M_FORBIDDEN', httpStatus: 403 });
  });

  it('alice creates a room and invites bob; bob sees the invite through sync and joins', async () => {
    const created = await alice.client.createRoom({ preset: 'private_chat' as never, name: 'First name' });
    roomId = created.room_id;
    await waitUntil(alice.client, [ClientEvent.Room, RoomEvent.MyMembership], () => alice.client.getRoom(roomId)?.getMyMembership() === 'join', 'alice to see her room');

    await alice.client.invite(roomId, bob.userId);
    const invited = await waitUntil(
      bob.client,
      [ClientEvent.Room, RoomEvent.MyMembership],
      () => {
        const r = bob.client.getRoom(roomId);
        return r?.getMyMembership() === 'invite' ? r : undefined;
      },
      'bob to see the invite',
    );
    // The invite carries stripped state: the room's name and who invited him.
    expect(invited.name).toBe('First name');
    expect(invited.getDMInviter() ?? invited.currentState.getMember(bob.userId)?.events.member?.getSender()).toBe(alice.userId);

    await bob.client.joinRoom(roomId);
    await waitUntil(bob.client, [RoomEvent.MyMembership], () => bob.client.getRoom(roomId)?.getMyMembership() === 'join', 'bob to be joined');
    await waitUntil(
      alice.client,
      [RoomStateEvent.Members, RoomMemberEvent.Membership],
      () => alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === 'join',
      "alice to see bob's join",
    );
    // The room summary (applied after the events of the same sync) counts him.
    await waitUntil(alice.client, [ClientEvent.Sync], () => alice.client.getRoom(roomId)?.getJoinedMemberCount() === 2, 'the summary to count 2 joined');
  });

  it('messages go both ways and arrive in order', async () => {
    const a1 = await alice.client.sendTextMessage(roomId, 'hello bob');
    const onBob = await waitForEvent(bob, a1.event_id, "bob to receive alice's message");
    expect(onBob.getSender()).toBe(alice.userId);
    expect(onBob.getContent()).toMatchObject({ msgtype: 'm.text', body: 'hello bob' });

    const b1 = await bob.client.sendTextMessage(roomId, 'hi alice');
    const onAlice = await waitForEvent(alice, b1.event_id, "alice to receive bob's reply");
    expect(onAlice.getSender()).toBe(bob.userId);

    // Alice's own message is no longer a local echo: the sync returned it with its real ID.
    const own = liveEvent(alice.client, a1.event_id)!;
    expect(own.status).toBeNull();
    const aliceRoom = alice.client.getRoom(roomId)!;
    expect(bodies(aliceRoom).slice(-2)).toEqual(['hello bob', 'hi alice']);
    expect(bodies(bob.client.getRoom(roomId)!).slice(-2)).toEqual(['hello bob', 'hi alice']);
  });

  it('an edit replaces the original on the other side', async () => {
    const original = await alice.client.sendTextMessage(roomId, 'tpyo');
    await waitForEvent(bob, original.event_id, 'bob to see the original');
    const edit = await alice.client.sendMessage(roomId, {
      msgtype: 'm.text',
      body: '* typo',
      'm.new_content': { msgtype: 'm.text', body: 'typo' },
      'm.relates_to': { rel_type: RelationType.Replace, event_id: original.event_id },
    } as never);
    const replaced = await waitUntil(
      bob.client,
      TIMELINE_EVENTS,
      () => {
        const e = liveEvent(bob.client, original.event_id);
        return e?.replacingEventId() === edit.event_id ? e : undefined;
      },
      'bob to apply the edit',
    );
    expect(replaced.getContent().body).toBe('typo');
    expect(replaced.getOriginalContent().body).toBe('tpyo');
    // Served later, the original carries the edit as a bundled aggregation (spec "Server-side aggregation of m.replace").
    const raw = await bob.client.fetchRoomEvent(roomId, original.event_id);
    const bundled = (raw.unsigned as { 'm.relations'?: { 'm.replace'?: { event_id: string } } } | undefined)?.['m.relations']?.['m.replace'];
    expect(bundled?.event_id).toBe(edit.event_id);
  });

  it('a reaction is aggregated on the target, and a redaction strips the target on the other side', async () => {
    const target = await alice.client.sendTextMessage(roomId, 'react to me');
    await waitForEvent(bob, target.event_id, 'bob to see the message to react to');
    const reaction = await bob.client.sendEvent(roomId, EventType.Reaction, {
      'm.relates_to': { rel_type: RelationType.Annotation, event_id: target.event_id, key: '👍' },
    } as never);
    const relations = await waitUntil(
      alice.client,
      TIMELINE_EVENTS,
      () => {
        const rel = alice.client.getRoom(roomId)?.relations.getChildEventsForEvent(target.event_id, RelationType.Annotation, EventType.Reaction);
        return rel && rel.getRelations().some((e) => e.getId() === reaction.event_id) ? rel : undefined;
      },
      "alice to aggregate bob's reaction",
    );
    expect(relations.getSortedAnnotationsByKey()?.[0]?.[0]).toBe('👍');
    expect([...relations.getSortedAnnotationsByKey()![0]![1]].map((e) => e.getSender())).toEqual([bob.userId]);

    // Alice redacts her message; bob's copy loses its content and says who redacted it.
    const redactionSeen = nextEmit<[MatrixEvent, Room]>(bob.client, RoomEvent.Redaction, (ev) => ev.event.redacts === target.event_id || ev.getContent().redacts === target.event_id, 'bob to receive the redaction');
    const redaction = await alice.client.redactEvent(roomId, target.event_id, undefined, { reason: 'oops' });
    const [redactionEvent] = await redactionSeen;
    expect(redactionEvent.getId()).toBe(redaction.event_id);
    const redacted = await waitUntil(bob.client, TIMELINE_EVENTS, () => {
      const e = liveEvent(bob.client, target.event_id);
      return e?.isRedacted() ? e : undefined;
    }, "bob's copy to be redacted");
    expect(redacted.getContent()).toEqual({});
    expect(redacted.getUnsigned().redacted_because?.event_id).toBe(redaction.event_id);

    // Bob takes back a reaction: the redaction removes it from alice's aggregation.
    const target2 = await alice.client.sendTextMessage(roomId, 'react and take it back');
    await waitForEvent(bob, target2.event_id, 'bob to see the second message');
    const reaction2 = await bob.client.sendEvent(roomId, EventType.Reaction, {
      'm.relates_to': { rel_type: RelationType.Annotation, event_id: target2.event_id, key: '🎉' },
    } as never);
    const annotations = () =>
      alice.client.getRoom(roomId)?.relations.getChildEventsForEvent(target2.event_id, RelationType.Annotation, EventType.Reaction)?.getSortedAnnotationsByKey() ?? [];
    await waitUntil(alice.client, TIMELINE_EVENTS, () => annotations().some(([key]) => key === '🎉'), 'alice to aggregate the second reaction');
    await bob.client.redactEvent(roomId, reaction2.event_id);
    await waitUntil(alice.client, TIMELINE_EVENTS, () => annotations().every(([, events]) => events.size === 0), 'the reaction to leave the aggregation');
  });

  it('room name and topic changes reach the other member as state events', async () => {
    const nameEvent = nextEmit<[MatrixEvent]>(bob.client, RoomStateEvent.Events, (ev) => ev.getType() === EventType.RoomName && ev.getContent().name === 'Renamed', 'bob to see the new name');
    const nameChanged = nextEmit<[Room]>(bob.client, RoomEvent.Name, (room) => room.roomId === roomId && room.name === 'Renamed', 'bob to recompute the room name');
    await alice.client.setRoomName(roomId, 'Renamed');
    const [ev] = await nameEvent;
    expect(ev.getSender()).toBe(alice.userId);
    expect(ev.getStateKey()).toBe('');
    await nameChanged;

    const topicEvent = nextEmit<[MatrixEvent]>(bob.client, RoomStateEvent.Events, (e) => e.getType() === EventType.RoomTopic, 'bob to see the topic');
    await alice.client.setRoomTopic(roomId, 'What we talk about');
    await topicEvent;
    const topic = bob.client.getRoom(roomId)!.currentState.getStateEvents(EventType.RoomTopic, '');
    expect(topic?.getContent().topic).toBe('What we talk about');
    expect(bob.client.getRoom(roomId)!.name).toBe('Renamed');
  });

  it('typing notifications start and stop', async () => {
    const typing = nextEmit(alice.client, RoomMemberEvent.Typing, (_e: MatrixEvent, m: { userId: string; roomId: string; typing: boolean }) => m.userId === bob.userId && m.roomId === roomId && m.typing, 'alice to see bob typing');
    await bob.client.sendTyping(roomId, true, 20_000);
    await typing;
    expect(alice.client.getRoom(roomId)!.getMember(bob.userId)!.typing).toBe(true);

    const stopped = nextEmit(alice.client, RoomMemberEvent.Typing, (_e: MatrixEvent, m: { userId: string; typing: boolean }) => m.userId === bob.userId && !m.typing, 'alice to see bob stop typing');
    await bob.client.sendTyping(roomId, false, 0);
    await stopped;
    expect(alice.client.getRoom(roomId)!.getMember(bob.userId)!.typing).toBe(false);
  });

  it('a read receipt and the read marker reach the client', async () => {
    const sent = await alice.client.sendTextMessage(roomId, 'read me');
    const onBob = await waitForEvent(bob, sent.event_id, 'bob to receive the message to read');
    const receipt = waitUntil(
      alice.client,
      [RoomEvent.Receipt],
      () => alice.client.getRoom(roomId)?.getEventReadUpTo(bob.userId) === sent.event_id,
      "alice to see bob's receipt",
    );
    await bob.client.sendReadReceipt(onBob);
    await receipt;
    expect(alice.client.getRoom(roomId)!.getUsersReadUpTo(onBob)).toContain(bob.userId);

    // The fully-read marker is private account data: bob's own sync brings it back.
    const marker = waitUntil(
      bob.client,
      [RoomEvent.AccountData],
      () => bob.client.getRoom(roomId)?.getAccountData(EventType.FullyRead)?.getContent().event_id === sent.event_id,
      "bob's fully-read marker",
    );
    await bob.client.setRoomReadMarkers(roomId, sent.event_id);
    await marker;
  });

  it('a new session paginates back to the start of the room with scrollback and /messages', async () => {
    const sentIds: string[] = [];
    for (let i = 0; i < 25; i++) sentIds.push((await alice.client.sendTextMessage(roomId, `history ${i}`)).event_id);
    await waitForEvent(bob, sentIds.at(-1)!, 'bob to receive the last history message');

    // A second device of bob with a short initial timeline.
    const bob2 = await loginClient(server.baseUrl, 'bob', 'bob-password', { deviceDisplayName: 'bob phone' });
    clients.push(bob2);
    await startSyncing(bob2.client, { initialSyncLimit: 5 });
    const room = bob2.client.getRoom(roomId)!;
    expect(room.getLiveTimeline().getEvents().length).toBeLessThanOrEqual(5);

    // Back until the creation event, 10 at a time.
    for (let page = 0; page < 20 && room.oldState.paginationToken !== null; page++) await bob2.client.scrollback(room, 10);
    expect(room.oldState.paginationToken).toBeNull();
    const timeline = room.getLiveTimeline().getEvents();
    expect(timeline[0]!.getType()).toBe(EventType.RoomCreate);
    const ids = timeline.map((e) => e.getId());
    expect(new Set(ids).size).toBe(ids.length);
    const history = bodies(room).filter((b) => b.startsWith('history '));
    expect(history).toEqual(Array.from({ length: 25 }, (_, i) => `history ${i}`));
    // The redacted message stays in the history, redacted; the edited one shows its new content.
    expect(timeline.some((e) => e.isRedacted())).toBe(true);
    const edited = timeline.find((e) => e.getOriginalContent().body === 'tpyo');
    expect(edited?.getContent().body).toBe('typo');
    expect(edited?.replacingEventId()).toBeTruthy();

    // /messages without `from` (as js-sdk calls it): newest first, `limit` honoured.
    const page1 = await bob2.client.createMessagesRequest(roomId, null, 7, Direction.Backward);
    expect(page1.chunk).toHaveLength(7);
    expect(page1.chunk.map((e) => e.event_id)).toEqual(sentIds.slice(-7).reverse());
    const page2 = await bob2.client.createMessagesRequest(roomId, page1.end!, 7, Direction.Backward);
    expect(page2.chunk.map((e) => e.event_id)).toEqual(sentIds.slice(-14, -7).reverse());
    // And forwards again from the second page's start.
    const forward = await bob2.client.createMessagesRequest(roomId, page2.end!, 14, Direction.Forward);
    expect(forward.chunk.map((e) => e.event_id)).toEqual(sentIds.slice(-14));
  });

  it('bob leaves; both sides see it', async () => {
    await bob.client.leave(roomId);
    await waitUntil(bob.client, [RoomEvent.MyMembership], () => bob.client.getRoom(roomId)?.getMyMembership() === 'leave', 'bob to see himself leave');
    await waitUntil(
      alice.client,
      [RoomStateEvent.Members, RoomMemberEvent.Membership],
      () => alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === 'leave',
      "alice to see bob's leave",
    );
    await waitUntil(alice.client, [ClientEvent.Sync], () => alice.client.getRoom(roomId)?.getJoinedMemberCount() === 1, 'the summary to count 1 joined');
    // A message after the leave does not reach bob.
    const after = await alice.client.sendTextMessage(roomId, 'after you left');
    await waitForEvent(alice, after.event_id, 'alice to see her own message');
    expect(liveEvent(bob.client, after.event_id)).toBeUndefined();
  });

  it('no request any client made got a 5xx or an unexpected 404', () => {
    const bad = clients.flatMap((c) => badRequests(c.requests));
    expect(bad).toEqual([]);
  });
});

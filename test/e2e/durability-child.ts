// Child process of the kill -9 durability test: writes events through rooms/ in a loop, printing each committed event ID.
// Usage: node --import tsx test/e2e/durability-child.ts <dbfile>
import { writeSync } from 'node:fs';
import { openDatabase } from '../../src/store/db.js';
import { createRoomsService } from '../../src/rooms/service.js';
import { signingKeyFromSeed } from '../../src/core/crypto/ed25519.js';

const dbPath = process.argv[2];
if (!dbPath) throw new Error('usage: durability-child.ts <dbfile>');

/** Writes a line straight to fd 1 (no stream buffering), after the commit it reports. */
function say(line: string): void {
  writeSync(1, line + '\n');
}

const SERVER = 'durable.test';
const ALICE = `@alice:${SERVER}`;
const db = openDatabase(dbPath);
const rooms = createRoomsService({ db, serverName: SERVER, signingKey: signingKeyFromSeed('d1', Buffer.alloc(32, 5)) });

let roomId = db.prepare<[], string>('SELECT room_id FROM rooms ORDER BY room_nid LIMIT 1').pluck().get();
if (roomId === undefined) {
  const created = await rooms.createRoom('12', ALICE);
  roomId = created.roomId;
  say(`EVENT ${created.eventId}`);
  for (const [type, stateKey, content] of [
    ['m.room.member', ALICE, { membership: 'join' }],
    ['m.room.power_levels', '', { users: {}, users_default: 0, events_default: 0, state_default: 0 }],
    ['m.room.join_rules', '', { join_rule: 'public' }],
  ] as const) {
    const r = await rooms.sendLocalEvent(roomId, { type, stateKey, content, sender: ALICE });
    say(`EVENT ${r.eventId}`);
  }
}
say(`READY ${roomId}`);

// Messages, with a burst of 40 state events (joins, profile changes, topics) every 100 events.
for (let i = 0; ; i++) {
  const phase = i % 100;
  if (phase === 0) say('BURST');
  let r;
  if (phase < 40) {
    const user = `@u${i % 60}:${SERVER}`;
    if (phase % 10 === 9) {
      r = await rooms.sendLocalEvent(roomId, { type: 'm.room.topic', stateKey: '', content: { topic: `topic ${i}` }, sender: ALICE });
    } else {
      r = await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: user, content: { membership: 'join', displayname: `name ${i}` }, sender: user });
    }
  } else {
    r = await rooms.sendLocalEvent(roomId, { type: 'm.room.message', content: { msgtype: 'm.text', body: `message ${i}` }, sender: ALICE });
  }
  say(`EVENT ${r.eventId}`);
}

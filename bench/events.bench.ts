// Benchmarks of the event format code: content hash + event ID of a message event (v10, v12),
// redaction, and PDU format validation.
import { addContentHash, computeEventId } from '../src/core/events/hashes.js';
import { validatePdu } from '../src/core/events/pdu.js';
import { redactEvent } from '../src/core/events/redaction.js';
import { requireRoomVersion } from '../src/core/events/room-versions.js';
import type { JsonObject } from '../src/core/json/types.js';
import { opsPerSecond, type Report } from './lib.js';

/** A realistic m.room.message PDU as it travels over federation (about 1 KB). */
function messageEvent(roomId: string, i: number): JsonObject {
  return {
    auth_events: [
      '$Gx2y8D1b9Q3lG0s4kA6XzT1yVhE8R2nPq7w5bJcM0uI',
      '$Lk9sP2rT4vW6yZ8aC0eG2iK4mO6qS8uW0yB2dF4hJ6k',
      '$Qw1eR3tY5uI7oP9aS1dF3gH5jK7lZ9xC1vB3nM5qW7e',
    ],
    content: {
      body: `Hello everyone, this is message number ${i}. Has anyone looked at the federation logs from last night?`,
      format: 'org.matrix.custom.html',
      formatted_body: `<p>Hello everyone, this is message number <b>${i}</b>. Has anyone looked at the federation logs?</p>`,
      msgtype: 'm.text',
      'm.mentions': { user_ids: ['@bob:example.org'] },
    },
    depth: 1000 + i,
    origin_server_ts: 1_700_000_000_000 + i,
    prev_events: ['$Zx9cV7bN5mA3sD1fG9hJ7kL5qW3eR1tY9uI7oP5aS3d'],
    room_id: roomId,
    sender: '@alice:example.org',
    type: 'm.room.message',
    hashes: { sha256: 'placeholderplaceholderplaceholderplaceholde' },
    signatures: {
      'example.org': {
        'ed25519:a_AbCd': 'R0bjIx8CtTm0y7QUVP5xUcEeYl0Z7QlqEsmKx3oqaSCxUv7Td2A1f7xZ3s0PqOqEo5nTj0K1d9Tfk2Yx7u8wCg',
      },
    },
    unsigned: { age: 1234 },
  };
}

export async function run(report: Report): Promise<void> {
  const N = 1000;
  const events10 = Array.from({ length: N }, (_, i) => messageEvent('!QtykxKocfZaZOUrTwp:example.org', i));
  const events12 = Array.from({ length: N }, (_, i) => messageEvent('!' + 'WvDtsLpgNoYoFBSV1bo7AlqByvuqmohnhwbrbPuICt4', i));
  const v10 = requireRoomVersion('10');
  const v12 = requireRoomVersion('12');

  let sink = 0;
  for (const [label, events, version] of [['v10', events10, v10], ['v12', events12, v12]] as const) {
    const rate = opsPerSecond((i) => {
      const hashed = addContentHash(events[i % N]!);
      sink += computeEventId(hashed, version).length;
    }, 20_000);
    report({ name: `event ID + content hash (message, ${label})`, median: rate, unit: 'ops/s' });
  }

  report({
    name: 'redaction (message, v11 rules)',
    median: opsPerSecond((i) => {
      sink += Object.keys(redactEvent(events12[i % N]!, v12)).length;
    }, 200_000),
    unit: 'ops/s',
  });
  report({
    name: 'redaction (message, v1 rules)',
    median: opsPerSecond((i) => {
      sink += Object.keys(redactEvent(events10[i % N]!, requireRoomVersion('1'))).length;
    }, 200_000),
    unit: 'ops/s',
  });

  report({
    name: 'validatePdu (message, v10)',
    median: opsPerSecond((i) => {
      sink += validatePdu(events10[i % N]!, v10).ok ? 1 : 0;
    }, 50_000),
    unit: 'ops/s',
  });

  if (sink === 42) console.log(''); // keep the work observable
}

// Child process for test/unit/e2ee-claim.test.ts: opens the shared database file with its own
// connection and claims one-time keys one request at a time, printing each claimed key name.
import { openDatabase } from '../../src/store/db.js';
import { createStreamCounters } from '../../src/users/streams.js';
import { createDeviceListStream } from '../../src/e2ee/device-lists.js';
import { createE2eeStore } from '../../src/e2ee/store.js';

const [dbPath, userId, deviceId, rounds, startAt] = process.argv.slice(2);
const db = openDatabase(dbPath!);
const counters = createStreamCounters(db);
const store = createE2eeStore(db, counters, createDeviceListStream(db, counters));
const out: string[] = [];
// Every child starts claiming at the same moment, so the claims really run at once.
while (Date.now() < Number(startAt)) {
  /* spin */
}
for (let i = 0; i < Number(rounds); i++) {
  const claimed = await store.claimKeys([{ userId: userId!, deviceId: deviceId!, algorithm: 'signed_curve25519' }]);
  for (const k of claimed) out.push(k.name);
}
process.stdout.write(JSON.stringify(out) + '\n');
db.close();

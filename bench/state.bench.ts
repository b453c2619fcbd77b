// Benchmark of state resolution: synthetic rooms with 1,000 and 10,000 state events forked into two
// branches whose states differ in 10% of their entries, resolved with v2 (room v11) and v2.1 (v12).

import { createHash } from 'node:crypto';
import { stateTuple, toRoomEvent, type RoomEvent } from '../src/core/events/event.js';
import { requireRoomVersion, type RoomVersion } from '../src/core/events/room-versions.js';
import type { JsonObject } from '../src/core/json/types.js';
import { AuthChainCache } from '../src/core/state/auth-chain.js';
import { resolveState, type StateResolutionInput } from '../src/core/state/resolve.js';
import { medianMs, type Report } from './lib.js';

export interface SyntheticRoom {
  readonly version: RoomVersion;
  readonly events: Map<string, RoomEvent>;
  /** The state at the fork. */
  readonly base: Map<string, string>;
  /** The states after the two branch heads. */
  readonly stateSets: [Map<string, string>, Map<string, string>];
  /** Keys whose value differs between the two states. */
  readonly conflictedKeys: number;
  /** Members kicked in branch B while they renamed themselves in branch A. */
  readonly kicked: string[];
}

/**
 * A room of `stateEvents` state entries: create, the creator's join, power levels (a moderator at
 * 50), public join rules, then members joining one after another, each join citing create, power
 * levels and join rules. Two branches then change 10% of the entries: members rename themselves
 * in A, in B or in both; in A the creator raises a second moderator; in B the moderator kicks some
 * of the members who renamed in A. `seed` varies the event IDs.
 */
export function buildSyntheticRoom(roomVersion: string, stateEvents: number, seed = 0): SyntheticRoom {
  const version = requireRoomVersion(roomVersion);
  const events = new Map<string, RoomEvent>();
  const v12 = version.roomIdFromCreateEvent;
  let counter = 0;
  let ts = 1_700_000_000_000;
  let roomId = '!synthetic:example.org';
  const newId = () => '$' + createHash('sha256').update(`${seed}/${counter++}`).digest('base64url');
  const user = (i: number) => `@user${i}:server${i % 50}.example.org`;
  const creator = '@creator:example.org';
  const moderator = user(0);

  const add = (fields: JsonObject, state: Map<string, string>, prev: string[], authKeys: string[]): string => {
    const id = newId();
    const auth = authKeys.map((k) => state.get(k)).filter((x): x is string => x !== undefined);
    const json: JsonObject = {
      ...(fields.type === 'm.room.create' && v12 ? {} : { room_id: roomId }),
      ...fields,
      prev_events: prev,
      auth_events: auth,
      origin_server_ts: ts++,
      depth: counter,
    };
    const ev = toRoomEvent(json, id, version);
    events.set(id, ev);
    state.set(stateTuple(ev.type, ev.stateKey!), id);
    return id;
  };

  const CREATE = stateTuple('m.room.create', '');
  const PL = stateTuple('m.room.power_levels', '');
  const JR = stateTuple('m.room.join_rules', '');
  const member = (u: string) => stateTuple('m.room.member', u);
  const baseAuth = (u: string) => [...(v12 ? [] : [CREATE]), PL, member(u)];

  const state = new Map<string, string>();
  let head = add({ type: 'm.room.create', state_key: '', sender: creator, content: v12 ? { room_version: '12' } : { room_version: version.id } }, state, [], []);
  if (v12) roomId = '!' + head.slice(1);
  head = add({ type: 'm.room.member', state_key: creator, sender: creator, content: { membership: 'join' } }, state, [head], v12 ? [] : [CREATE]);
  const plContent = (extra: Record<string, number>) => ({ users: { ...(v12 ? {} : { [creator]: 100 }), [moderator]: 50, ...extra }, state_default: 50, kick: 50, ban: 50 });
  head = add({ type: 'm.room.power_levels', state_key: '', sender: creator, content: plContent({}) }, state, [head], baseAuth(creator));
  head = add({ type: 'm.room.join_rules', state_key: '', sender: creator, content: { join_rule: 'public' } }, state, [head], baseAuth(creator));
  const members = stateEvents - 4;
  for (let i = 0; i < members; i++) {
    const u = user(i);
    head = add({ type: 'm.room.member', state_key: u, sender: u, content: { membership: 'join', displayname: `User ${i}` } }, state, [head], [...baseAuth(u), JR]);
  }

  // 10% of the entries differ: split between renames in A, in B, in both, and kicks in B.
  const changed = Math.round(stateEvents * 0.1);
  const stateA = new Map(state);
  const stateB = new Map(state);
  let headA = head;
  let headB = head;
  const renameAuth = (u: string) => [...baseAuth(u), JR];
  headA = add({ type: 'm.room.power_levels', state_key: '', sender: creator, content: plContent({ [user(1)]: 50 }) }, stateA, [headA], baseAuth(creator));
  const kicked: string[] = [];
  for (let k = 0; k < changed - 1; k++) {
    const i = 2 + k; // members 0 and 1 are the moderators
    const u = user(i);
    const kind = k % 20;
    if (kind < 8 || kind >= 15) {
      headA = add({ type: 'm.room.member', state_key: u, sender: u, content: { membership: 'join', displayname: `User ${i} (A)` } }, stateA, [headA], renameAuth(u));
    }
    if ((kind >= 8 && kind < 15) || kind >= 18) {
      headB = add({ type: 'm.room.member', state_key: u, sender: u, content: { membership: 'join', displayname: `User ${i} (B)` } }, stateB, [headB], renameAuth(u));
    } else if (kind >= 15) {
      kicked.push(u);
      headB = add({ type: 'm.room.member', state_key: u, sender: moderator, content: { membership: 'leave' } }, stateB, [headB], [...baseAuth(moderator), member(u)]);
    }
  }
  let conflictedKeys = 0;
  for (const [k, v] of stateA) if (stateB.get(k) !== v) conflictedKeys++;
  return { version, events, base: state, stateSets: [stateA, stateB], conflictedKeys, kicked };
}

/** An in-memory store: getEvent from the map, auth chains through a (fresh or shared) cache. */
export function syntheticInput(room: SyntheticRoom, cache = new AuthChainCache((id) => room.events.get(id), room.version)): StateResolutionInput {
  return {
    getEvent: (id) => room.events.get(id),
    getAuthChain: (ids) => cache.getAuthChain(ids),
  };
}

export async function run(report: Report): Promise<void> {
  for (const size of [1_000, 10_000]) {
    for (const roomVersion of ['11', '12']) {
      const room = buildSyntheticRoom(roomVersion, size);
      const label = `${room.version.stateResolution} (room v${roomVersion}), ${size.toLocaleString('en-US')} state events, ${room.conflictedKeys} conflicted keys`;
      // Cold: a new auth-chain cache each round, as for the first resolution in a room.
      const cold = await medianMs(() => resolveState(room.version, room.stateSets, syntheticInput(room)), size >= 10_000 ? 5 : 9);
      report({ name: `state resolution ${label}, cold auth-chain cache`, median: cold, unit: 'ms', ...(size === 10_000 ? { target: '< 1000 ms' } : {}) });
      const shared = new AuthChainCache((id) => room.events.get(id), room.version);
      resolveState(room.version, room.stateSets, syntheticInput(room, shared));
      const warm = await medianMs(() => resolveState(room.version, room.stateSets, syntheticInput(room, shared)), size >= 10_000 ? 5 : 9);
      report({ name: `state resolution ${label}, warm auth-chain cache`, median: warm, unit: 'ms' });
    }
  }
}

// Test helpers for state resolution: loading DAG fixtures, walking a DAG to the state at its
// extremities, and shuffling inputs to check that results do not depend on order.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toRoomEvent, stateTuple, type RoomEvent } from '../../src/core/events/event.js';
import { requireRoomVersion, type RoomVersion } from '../../src/core/events/room-versions.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { AuthChainCache } from '../../src/core/state/auth-chain.js';
import type { StateMap, StateResolutionInput } from '../../src/core/state/resolve.js';

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'state');

export interface StateFixture {
  readonly file: string;
  readonly description: string;
  readonly source?: string;
  readonly room_version: string;
  readonly room_id?: string;
  readonly events: JsonObject[];
  /** Either explicit state sets (lists of event IDs) or the extremities whose states are resolved. */
  readonly resolve: { state_sets?: string[][]; extremities?: string[] };
  /** The full resolved state, as event IDs. */
  readonly expected_state: string[];
  /** Optional: the state before some events (resolved at merges while walking the DAG). */
  readonly expected_state_before?: Record<string, string[]>;
  /** Optional: event IDs the store reports as rejected. */
  readonly rejected?: string[];
}

export function loadFixtures(): StateFixture[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, ...(JSON.parse(readFileSync(join(FIXTURE_DIR, file), 'utf8')) as Omit<StateFixture, 'file'>) }));
}

export function toEvents(fixture: StateFixture, version: RoomVersion): Map<string, RoomEvent> {
  const events = new Map<string, RoomEvent>();
  for (const json of fixture.events) {
    const id = json.event_id as string;
    const withRoom: JsonObject =
      json.room_id === undefined && fixture.room_id !== undefined && json.type !== 'm.room.create' ? { ...json, room_id: fixture.room_id } : json;
    events.set(id, toRoomEvent(withRoom, id, version));
  }
  return events;
}

export function keyOf(ev: RoomEvent): string {
  return stateTuple(ev.type, ev.stateKey!);
}

/** A state map from event IDs, in the given order. */
export function stateOf(ids: readonly string[], events: ReadonlyMap<string, RoomEvent>): Map<string, string> {
  const m = new Map<string, string>();
  for (const id of ids) {
    const ev = events.get(id);
    if (!ev || ev.stateKey === undefined) throw new Error(`state set names ${id}, which is not a state event of the fixture`);
    m.set(keyOf(ev), id);
  }
  return m;
}

/** An in-memory store over the events: getEvent, a memoised getAuthChain, and rejections. */
export function memoryInput(events: ReadonlyMap<string, RoomEvent>, version: RoomVersion, rejected: Iterable<string> = []): StateResolutionInput & { calls: { getAuthChain: number } } {
  const cache = new AuthChainCache((id) => events.get(id), version);
  const rejectedSet = new Set(rejected);
  const calls = { getAuthChain: 0 };
  return {
    calls,
    getEvent: (id) => events.get(id),
    getAuthChain: (ids) => {
      calls.getAuthChain++;
      return cache.getAuthChain(ids);
    },
    isRejected: (id) => rejectedSet.has(id),
  };
}

/** A deterministic PRNG (mulberry32) so shuffles are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffled<T>(xs: readonly T[], random: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export function shuffledMap<K, V>(m: ReadonlyMap<K, V>, random: () => number): Map<K, V> {
  return new Map(shuffled([...m], random));
}

export type Resolver = (version: RoomVersion, stateSets: readonly StateMap[], io: StateResolutionInput) => Map<string, string>;

/**
 * The states at the fixture's extremities: walks the DAG in an order that respects prev_events
 * (picked by `random` among ready events), the state after each event being the resolution of
 * the states after its prev events plus the event itself.
 */
export function walkDag(
  fixture: StateFixture,
  events: ReadonlyMap<string, RoomEvent>,
  version: RoomVersion,
  io: StateResolutionInput,
  resolve: Resolver,
  random: () => number,
): { stateSets: Map<string, string>[]; stateBefore: Map<string, Map<string, string>> } {
  const after = new Map<string, Map<string, string>>();
  const stateBefore = new Map<string, Map<string, string>>();
  const pending = new Set(events.keys());
  while (pending.size > 0) {
    const ready = [...pending].filter((id) => events.get(id)!.prevEventIds.every((p) => after.has(p)));
    if (ready.length === 0) throw new Error(`${fixture.file}: prev_events name unknown events or form a cycle`);
    const id = ready[Math.floor(random() * ready.length)]!;
    pending.delete(id);
    const ev = events.get(id)!;
    const prevStates = shuffled(ev.prevEventIds.map((p) => shuffledMap(after.get(p)!, random)), random);
    const before = prevStates.length === 0 ? new Map<string, string>() : prevStates.length === 1 ? new Map(prevStates[0]!) : resolve(version, prevStates, io);
    stateBefore.set(id, before);
    const state = new Map(before);
    if (ev.stateKey !== undefined) state.set(keyOf(ev), id);
    after.set(id, state);
  }
  const stateSets = fixture.resolve.extremities!.map((x) => {
    const s = after.get(x);
    if (!s) throw new Error(`${fixture.file}: unknown extremity ${x}`);
    return s;
  });
  return { stateSets, stateBefore };
}

export function versionOf(fixture: StateFixture): RoomVersion {
  return requireRoomVersion(fixture.room_version);
}

/** The resolved state as a sorted list of event IDs (each key has one event, so this is exact). */
export function idsOf(state: ReadonlyMap<string, string>): string[] {
  return [...state.values()].sort();
}

// Unit tests of the state resolution steps: separation, auth chains and their difference, the
// conflicted state subgraph, Kahn's sort, the power ordering, mainline ordering, iterative auth
// checks, the missing-event rules, and the dispatch by room version.

import { describe, expect, it } from 'vitest';
import { stateTuple, toRoomEvent, type RoomEvent } from '../../src/core/events/event.js';
import { requireRoomVersion, type RoomVersion } from '../../src/core/events/room-versions.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { AuthChainCache, effectiveAuthEventIds, walkAuthChains } from '../../src/core/state/auth-chain.js';
import { authDifference } from '../../src/core/state/auth-difference.js';
import { conflictedStateSubgraph } from '../../src/core/state/conflicted-subgraph.js';
import { createResolutionContext } from '../../src/core/state/context.js';
import { iterativeAuthChecks } from '../../src/core/state/iterative-auth-checks.js';
import { mainlineOf, mainlineOrdering } from '../../src/core/state/mainline.js';
import { reverseTopologicalPowerOrdering, senderPowerLevel } from '../../src/core/state/power-ordering.js';
import { resolveState, type StateMap, type StateResolutionInput } from '../../src/core/state/resolve.js';
import { separateStateSets } from '../../src/core/state/separate.js';
import { lexicographicalTopologicalSort, MinHeap } from '../../src/core/state/topological-sort.js';
import { memoryInput, rng, shuffled } from './state-helpers.js';

const ALICE = '@alice:example.com';
const BOB = '@bob:example.com';
const CHARLIE = '@charlie:example.com';
const ROOM = '!room:example.com';
const v2 = requireRoomVersion('2');
const v10 = requireRoomVersion('10');
const v11 = requireRoomVersion('11');
const v12 = requireRoomVersion('12');

interface Spec {
  type?: string;
  stateKey?: string | null;
  sender?: string;
  content?: JsonObject;
  auth?: string[];
  prev?: string[];
  ts?: number;
  roomId?: string;
}

/** A RoomEvent with defaults: a topic by Alice at ts 0 in ROOM. */
function ev(id: string, spec: Spec = {}, version: RoomVersion = v11): RoomEvent {
  const json: JsonObject = {
    room_id: spec.roomId ?? ROOM,
    sender: spec.sender ?? ALICE,
    type: spec.type ?? 'm.room.topic',
    content: spec.content ?? {},
    prev_events: spec.prev ?? [],
    auth_events: spec.auth ?? [],
    origin_server_ts: spec.ts ?? 0,
    depth: 1,
  };
  if (spec.stateKey !== null) json.state_key = spec.stateKey ?? '';
  return toRoomEvent(json, id, version);
}

function store(...events: RoomEvent[]): Map<string, RoomEvent> {
  return new Map(events.map((e) => [e.eventId, e]));
}

function ctxOf(events: Map<string, RoomEvent>, version: RoomVersion = v11, rejected: string[] = []) {
  const r = new Set(rejected);
  return createResolutionContext(version, { getEvent: (id) => events.get(id), isRejected: (id) => r.has(id) });
}

const K = (type: string, stateKey = '') => stateTuple(type, stateKey);

describe('separateStateSets', () => {
  const a = new Map([[K('m.room.create'), '$c'], [K('m.room.topic'), '$t1'], [K('m.room.name'), '$n']]);
  const b = new Map([[K('m.room.create'), '$c'], [K('m.room.topic'), '$t2']]);

  it('v2: a key some set lacks is conflicted; differing values are conflicted', () => {
    const { unconflicted, conflicted } = separateStateSets([a, b]);
    expect([...unconflicted]).toEqual([[K('m.room.create'), '$c']]);
    expect([...conflicted.get(K('m.room.topic'))!].sort()).toEqual(['$t1', '$t2']);
    expect([...conflicted.get(K('m.room.name'))!]).toEqual(['$n']);
  });

  it('v1: a key with one value is unconflicted even if some set lacks it', () => {
    const { unconflicted, conflicted } = separateStateSets([a, b], { missingKeyConflicts: false });
    expect(unconflicted.get(K('m.room.name'))).toBe('$n');
    expect([...conflicted.keys()]).toEqual([K('m.room.topic')]);
  });

  it('three sets: distinct values of a key are collected once each', () => {
    const c = new Map([[K('m.room.topic'), '$t1']]);
    const { conflicted } = separateStateSets([a, b, c]);
    expect([...conflicted.get(K('m.room.topic'))!].sort()).toEqual(['$t1', '$t2']);
    expect(conflicted.has(K('m.room.create'))).toBe(true); // c lacks it
  });
});

describe('auth chains', () => {
  // A <- B <- C <- D, and E citing C and B.
  const events = store(ev('$A'), ev('$B', { auth: ['$A'] }), ev('$C', { auth: ['$B'] }), ev('$D', { auth: ['$C'] }), ev('$E', { auth: ['$C', '$B'] }));

  it('AuthChainCache gives each event its transitive auth events, without itself', () => {
    const cache = new AuthChainCache((id) => events.get(id), v11);
    expect([...cache.chainOf('$D')].sort()).toEqual(['$A', '$B', '$C']);
    expect([...cache.chainOf('$A')]).toEqual([]);
    expect([...cache.getAuthChain(['$E', '$B'])].sort()).toEqual(['$A', '$B', '$C']);
    expect(cache.chainOf('$unknown').size).toBe(0);
  });

  it('the cache agrees with a plain walk on random DAGs', () => {
    const random = rng(42);
    for (let round = 0; round < 20; round++) {
      const dag = new Map<string, RoomEvent>();
      for (let i = 0; i < 60; i++) {
        const auth = i === 0 ? [] : [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => `$${Math.floor(random() * i)}`))];
        dag.set(`$${i}`, ev(`$${i}`, { auth }));
      }
      const cache = new AuthChainCache((id) => dag.get(id), v11);
      for (let i = 0; i < 60; i += 7) {
        const walked = walkAuthChains([`$${i}`], (id) => dag.get(id)?.authEventIds);
        expect([...cache.chainOf(`$${i}`)].sort()).toEqual([...walked].sort());
      }
    }
  });

  it('a 200,000-event chain does not overflow the stack', () => {
    const long = new Map<string, RoomEvent>();
    for (let i = 0; i < 200_000; i++) long.set(`$${i}`, ev(`$${i}`, { auth: i ? [`$${i - 1}`] : [] }));
    expect(walkAuthChains(['$199999'], (id) => long.get(id)?.authEventIds).size).toBe(199_999);
    const cache = new AuthChainCache((id) => long.get(id), v11);
    expect(cache.chainOf('$1000').size).toBe(1000);
  });

  it('tolerates an auth cycle (possible only with v1/v2 chosen event IDs)', () => {
    const cyclic = store(ev('$x', { auth: ['$y'] }), ev('$y', { auth: ['$x'] }));
    const cache = new AuthChainCache((id) => cyclic.get(id), v2);
    expect(cache.chainOf('$x').has('$y')).toBe(true);
  });

  it('v12: the create event named by the room ID is an implicit auth event', () => {
    const create = ev('$create', { type: 'm.room.create', roomId: '' }, v12);
    const member = ev('$m', { type: 'm.room.member', stateKey: ALICE, content: { membership: 'join' }, roomId: '!create' }, v12);
    expect(create.roomId).toBe('!create');
    expect(effectiveAuthEventIds(member, v12)).toEqual(['$create']);
    expect(effectiveAuthEventIds(create, v12)).toEqual([]);
    expect(effectiveAuthEventIds(member, v11)).toEqual([]);
    const cache = new AuthChainCache((id) => (id === '$create' ? create : id === '$m' ? member : undefined), v12);
    expect([...cache.chainOf('$m')]).toEqual(['$create']);
  });
});

describe('authDifference', () => {
  // The shapes of Synapse's AuthChainDifferenceTestCase: A <- B <- C <- D, E citing C and B.
  const events = store(ev('$A'), ev('$B', { auth: ['$A'] }), ev('$C', { auth: ['$B'] }), ev('$D', { auth: ['$C'] }), ev('$E', { auth: ['$C', '$B'] }));
  const cache = new AuthChainCache((id) => events.get(id), v11);
  const chain = (ids: readonly string[]) => cache.getAuthChain(ids);
  const set = (...pairs: [string, string][]) => new Map(pairs.map(([k, id]) => [K(k), id]));

  /** The spec's definition, computed naively: ∪C_i − ∩C_i with C_i = S_i ∪ chains of S_i. */
  function naive(sets: StateMap[]): string[] {
    const chains = sets.map((s) => new Set([...s.values(), ...chain([...s.values()])]));
    const union = new Set(chains.flatMap((c) => [...c]));
    return [...union].filter((x) => !chains.every((c) => c.has(x))).sort();
  }

  it('simple chain: {A, B} vs {C} gives {C}', () => {
    const sets = [set(['a', '$A'], ['b', '$B']), set(['c', '$C'])];
    expect([...authDifference(sets, chain)].sort()).toEqual(['$C']);
  });

  it('longer chain: {A, B} vs {C, D} gives {C, D}', () => {
    const sets = [set(['a', '$A'], ['b', '$B']), set(['c', '$C'], ['d', '$D'])];
    expect([...authDifference(sets, chain)].sort()).toEqual(['$C', '$D']);
  });

  it('branches: {A, B, E} vs {C, D} gives {D, E}', () => {
    const sets = [set(['a', '$A'], ['b', '$B'], ['e', '$E']), set(['c', '$C'], ['d', '$D'])];
    expect([...authDifference(sets, chain)].sort()).toEqual(['$D', '$E']);
  });

  it('one state set, or identical sets, have no difference', () => {
    expect(authDifference([set(['d', '$D'])], chain).size).toBe(0);
    expect(authDifference([set(['d', '$D']), set(['d', '$D'])], chain).size).toBe(0);
  });

  it('matches the naive definition on random DAGs and state sets', () => {
    const random = rng(7);
    for (let round = 0; round < 30; round++) {
      const dag = new Map<string, RoomEvent>();
      for (let i = 0; i < 40; i++) {
        const auth = i === 0 ? [] : [...new Set(Array.from({ length: 1 + Math.floor(random() * 2) }, () => `$${Math.floor(random() * i)}`))];
        dag.set(`$${i}`, ev(`$${i}`, { auth }));
      }
      const c = new AuthChainCache((id) => dag.get(id), v11);
      const local = (ids: readonly string[]) => c.getAuthChain(ids);
      const sets: StateMap[] = Array.from({ length: 2 + Math.floor(random() * 2) }, () => {
        const m = new Map<string, string>();
        for (let k = 0; k < 8; k++) if (random() < 0.8) m.set(`k${k}`, `$${Math.floor(random() * 40)}`);
        return m;
      });
      const chains = sets.map((s) => new Set([...s.values(), ...local([...s.values()])]));
      const union = new Set(chains.flatMap((x) => [...x]));
      const expected = [...union].filter((x) => !chains.every((ch) => ch.has(x))).sort();
      expect([...authDifference(sets, local)].sort()).toEqual(expected);
    }
    expect(naive([set(['a', '$A']), set(['e', '$E'])])).toEqual(['$B', '$C', '$E']);
  });

  it('resolveState uses the store\'s authChainDifference when offered', () => {
    const create = ev('$create', { type: 'm.room.create', content: { creator: ALICE } });
    const t1 = ev('$t1', { auth: ['$create'] });
    const t2 = ev('$t2', { auth: ['$create'] });
    const events2 = store(create, t1, t2);
    let asked = 0;
    const io: StateResolutionInput = {
      getEvent: (id) => events2.get(id),
      getAuthChain: () => {
        throw new Error('getAuthChain must not be used when authChainDifference is offered');
      },
      authChainDifference: (sets) => {
        asked++;
        expect(sets).toHaveLength(2);
        return new Set(['$t1', '$t2']);
      },
    };
    const sets = [new Map([[K('m.room.create'), '$create'], [K('m.room.topic'), '$t1']]), new Map([[K('m.room.create'), '$create'], [K('m.room.topic'), '$t2']])];
    resolveState(v11, sets, io);
    expect(asked).toBe(1);
  });
});

describe('conflictedStateSubgraph', () => {
  const authOf = (edges: Record<string, string[]>) => (id: string) => edges[id];

  it('keeps events on paths between conflicted events, not side branches', () => {
    // CONF_S -> MID_A -> MID_B -> CONF_X, with GHOST cited by CONF_S and MID_A.
    const edges = { S: ['MID_A', 'GHOST'], MID_A: ['MID_B', 'GHOST'], MID_B: ['X'], X: [], GHOST: [] };
    expect([...conflictedStateSubgraph(['S', 'X'], authOf(edges))].sort()).toEqual(['MID_A', 'MID_B', 'S', 'X']);
  });

  it('follows converging paths: S1 -> X -> T and S2 -> Y -> X', () => {
    const edges = { S1: ['X'], S2: ['Y'], Y: ['X'], X: ['T'], T: [] };
    expect([...conflictedStateSubgraph(['S1', 'S2', 'T'], authOf(edges))].sort()).toEqual(['S1', 'S2', 'T', 'X', 'Y']);
  });

  it('a self-citing event between unrelated conflicted events is on no path', () => {
    const edges = { S: ['X'], X: ['X'], T: [] };
    expect([...conflictedStateSubgraph(['S', 'T'], authOf(edges))].sort()).toEqual(['S', 'T']);
  });

  it('excludes ancestors below the lowest conflicted event', () => {
    const edges = { C1: ['M'], M: ['C2'], C2: ['ROOT'], ROOT: [] };
    expect([...conflictedStateSubgraph(['C1', 'C2'], authOf(edges))].sort()).toEqual(['C1', 'C2', 'M']);
  });
});

describe('lexicographicalTopologicalSort', () => {
  it('sorts Synapse\'s example graph as o, l, n, m, p', () => {
    const graph = new Map([['l', ['o']], ['m', ['n', 'o']], ['n', ['o']], ['o', []], ['p', ['o']]]);
    expect(lexicographicalTopologicalSort(graph, (a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(['o', 'l', 'n', 'm', 'p']);
  });

  it('MinHeap pops in order', () => {
    const h = new MinHeap<number>((a, b) => a - b);
    const random = rng(3);
    const xs = Array.from({ length: 500 }, () => Math.floor(random() * 1000));
    for (const x of xs) h.push(x);
    const out: number[] = [];
    while (h.size) out.push(h.pop()!);
    expect(out).toEqual([...xs].sort((a, b) => a - b));
  });
});

describe('power ordering', () => {
  // Alice creator (100 without power levels in v11), PL gives Bob 50.
  const create = ev('$create', { type: 'm.room.create', content: { room_version: '11' } });
  const pl = ev('$pl', { type: 'm.room.power_levels', content: { users: { [ALICE]: 100, [BOB]: 50 }, users_default: 10 }, auth: ['$create'] });

  it('sender power from the event\'s own auth events: users, users_default, creator without power levels (v10 vs v11)', () => {
    const events = store(create, pl);
    const ctx = ctxOf(events);
    const topic = (sender: string, auth: string[]) => ev(`$t-${sender}-${auth.length}`, { sender, auth });
    expect(senderPowerLevel(ctx, topic(ALICE, ['$create', '$pl']))).toBe(100);
    expect(senderPowerLevel(ctx, topic(BOB, ['$create', '$pl']))).toBe(50);
    expect(senderPowerLevel(ctx, topic(CHARLIE, ['$create', '$pl']))).toBe(10);
    expect(senderPowerLevel(ctx, topic(ALICE, ['$create']))).toBe(100);
    expect(senderPowerLevel(ctx, topic(BOB, ['$create']))).toBe(0);
    // v10 reads the creator from content.creator, which this create event lacks.
    const create10 = ev('$create10', { type: 'm.room.create', content: { creator: BOB } }, v10);
    const ctx10 = ctxOf(store(create10), v10);
    expect(senderPowerLevel(ctx10, ev('$x', { sender: BOB, auth: ['$create10'] }, v10))).toBe(100);
    expect(senderPowerLevel(ctx10, ev('$y', { sender: ALICE, auth: ['$create10'] }, v10))).toBe(0);
  });

  it('v12: creators compare as infinitely powerful, through the implicit create event', () => {
    const c12 = ev('$c', { type: 'm.room.create', roomId: '', content: { additional_creators: [BOB] } }, v12);
    const pl12 = ev('$p', { type: 'm.room.power_levels', roomId: '!c', content: { users: { [CHARLIE]: 100 } } }, v12);
    const ctx = ctxOf(store(c12, pl12), v12);
    expect(senderPowerLevel(ctx, ev('$1', { sender: BOB, roomId: '!c', auth: ['$p'] }, v12))).toBe(Infinity);
    expect(senderPowerLevel(ctx, ev('$2', { sender: ALICE, roomId: '!c', auth: ['$p'] }, v12))).toBe(Infinity);
    expect(senderPowerLevel(ctx, ev('$3', { sender: CHARLIE, roomId: '!c', auth: ['$p'] }, v12))).toBe(100);
  });

  it('orders by auth edges first, then higher power, earlier ts, smaller event ID', () => {
    const byBob = ev('$b', { type: 'm.room.join_rules', sender: BOB, auth: ['$create', '$pl'], ts: 1 });
    const byAlice = ev('$z', { type: 'm.room.join_rules', sender: ALICE, auth: ['$create', '$pl'], ts: 9 });
    const early = ev('$y', { type: 'm.room.join_rules', sender: ALICE, auth: ['$create', '$pl'], ts: 5 });
    const sameTs = ev('$x', { type: 'm.room.join_rules', sender: ALICE, auth: ['$create', '$pl'], ts: 5 });
    // $after cites $b: must follow it although Alice outranks Bob.
    const after = ev('$after', { type: 'm.room.join_rules', sender: ALICE, auth: ['$create', '$pl', '$b'], ts: 0 });
    const events = store(create, pl, byBob, byAlice, early, sameTs, after);
    const ctx = ctxOf(events);
    const full = new Set(['$b', '$z', '$y', '$x', '$after']);
    for (let seed = 0; seed < 5; seed++) {
      const order = reverseTopologicalPowerOrdering(ctx, shuffled([...full], rng(seed)), full);
      expect(order).toEqual(['$x', '$y', '$z', '$b', '$after']);
    }
  });

  it('enlarges the power events with their auth ancestors in the full conflicted set only', () => {
    const join = ev('$join', { type: 'm.room.member', stateKey: CHARLIE, sender: CHARLIE, content: { membership: 'join' }, auth: ['$create', '$pl'] });
    const kick = ev('$kick', { type: 'm.room.member', stateKey: CHARLIE, sender: ALICE, content: { membership: 'leave' }, auth: ['$create', '$pl', '$join'] });
    const ctx = ctxOf(store(create, pl, join, kick));
    expect(reverseTopologicalPowerOrdering(ctx, ['$kick'], new Set(['$kick', '$join']))).toEqual(['$join', '$kick']);
    expect(reverseTopologicalPowerOrdering(ctx, ['$kick'], new Set(['$kick']))).toEqual(['$kick']);
  });
});

describe('mainlineOrdering', () => {
  const create = ev('$create', { type: 'm.room.create' });
  const pl1 = ev('$pl1', { type: 'm.room.power_levels', auth: ['$create'] });
  const pl2 = ev('$pl2', { type: 'm.room.power_levels', auth: ['$create', '$pl1'] });
  const pl3 = ev('$pl3', { type: 'm.room.power_levels', auth: ['$create', '$pl2'] });
  const plSide = ev('$plside', { type: 'm.room.power_levels', auth: ['$create', '$pl1'] });
  const t = (id: string, auth: string[], ts: number) => ev(id, { auth, ts });
  const events = store(
    create, pl1, pl2, pl3, plSide,
    t('$none', ['$create'], 50), // no power levels at all: position ∞, first
    t('$on1', ['$create', '$pl1'], 1),
    t('$on3', ['$create', '$pl3'], 0),
    t('$side', ['$create', '$plside'], 2), // plside -> pl1: position of pl1
    t('$on2a', ['$create', '$pl2'], 7),
    t('$on2b', ['$create', '$pl2'], 7),
  );
  const ctx = ctxOf(events);

  it('builds the mainline by following power levels auth events', () => {
    expect(mainlineOf(ctx, '$pl3')).toEqual(['$pl3', '$pl2', '$pl1']);
    expect(mainlineOf(ctx, undefined)).toEqual([]);
  });

  it('sorts by mainline position (older first), then ts, then event ID', () => {
    const ids = ['$on3', '$on2b', '$side', '$none', '$on1', '$on2a'];
    for (let seed = 0; seed < 5; seed++) {
      expect(mainlineOrdering(ctx, shuffled(ids, rng(seed)), '$pl3')).toEqual(['$none', '$on1', '$side', '$on2a', '$on2b', '$on3']);
    }
  });

  it('with no resolved power levels, orders by ts then event ID', () => {
    expect(mainlineOrdering(ctx, ['$on2b', '$none', '$on3', '$on2a'], undefined)).toEqual(['$on3', '$on2a', '$on2b', '$none']);
  });
});

describe('iterativeAuthChecks', () => {
  const create = ev('$create', { type: 'm.room.create', content: { room_version: '11' } });
  const join = ev('$join', { type: 'm.room.member', stateKey: ALICE, content: { membership: 'join' }, auth: ['$create'], prev: ['$create'] });
  const pl = ev('$pl', { type: 'm.room.power_levels', content: { users: { [ALICE]: 100 } }, auth: ['$create', '$join'] });
  const bobJoin = ev('$bob', { type: 'm.room.member', stateKey: BOB, sender: BOB, content: { membership: 'join' }, auth: ['$create', '$pl'] });
  const bobTopic = ev('$bt', { sender: BOB, auth: ['$create', '$pl', '$bob'] });
  const aliceTopic = ev('$at', { auth: ['$create', '$pl', '$join'] });
  const events = store(create, join, pl, bobJoin, bobTopic, aliceTopic);

  it('applies allowed events in order and ignores disallowed ones', () => {
    const base = new Map([[K('m.room.create'), '$create'], [K('m.room.member', ALICE), '$join'], [K('m.room.power_levels'), '$pl']]);
    const out = iterativeAuthChecks(ctxOf(events), base, ['$at', '$bt']);
    expect(out.get(K('m.room.topic'))).toBe('$at'); // Bob (0) cannot set the topic (50)
  });

  it('falls back to the event\'s own auth events for keys the state lacks', () => {
    const out = iterativeAuthChecks(ctxOf(events), new Map(), ['$at']);
    expect(out.get(K('m.room.topic'))).toBe('$at');
  });

  it('state entries override the event\'s own auth events', () => {
    const leave = ev('$leave', { type: 'm.room.member', stateKey: ALICE, content: { membership: 'leave' }, auth: ['$create', '$pl', '$join'] });
    const ev2 = store(...events.values(), leave);
    const out = iterativeAuthChecks(ctxOf(ev2), new Map([[K('m.room.member', ALICE), '$leave']]), ['$at']);
    expect(out.has(K('m.room.topic'))).toBe(false);
  });

  it('never uses a rejected auth event', () => {
    const out = iterativeAuthChecks(ctxOf(events, v11, ['$join']), new Map(), ['$at']);
    expect(out.has(K('m.room.topic'))).toBe(false);
    // ...but a previously rejected event is itself re-checked like any other.
    const again = iterativeAuthChecks(ctxOf(events, v11, ['$at']), new Map(), ['$at']);
    expect(again.get(K('m.room.topic'))).toBe('$at');
  });

  it('skips events the server does not have and non-state events', () => {
    const msg = ev('$msg', { type: 'm.room.message', stateKey: null, auth: ['$create', '$pl', '$join'] });
    const out = iterativeAuthChecks(ctxOf(store(...events.values(), msg)), new Map(), ['$missing', '$msg']);
    expect(out.size).toBe(0);
  });
});

describe('resolveState', () => {
  const create = ev('$create', { type: 'm.room.create', content: { room_version: '11' } });
  const join = ev('$join', { type: 'm.room.member', stateKey: ALICE, content: { membership: 'join' }, auth: ['$create'], prev: ['$create'] });
  const pl = ev('$pl', { type: 'm.room.power_levels', content: { users: { [ALICE]: 100 } }, auth: ['$create', '$join'] });
  const t1 = ev('$t1', { auth: ['$create', '$pl', '$join'], ts: 1 });
  const t2 = ev('$t2', { auth: ['$create', '$pl', '$join'], ts: 2 });
  const events = store(create, join, pl, t1, t2);
  const base: [string, string][] = [[K('m.room.create'), '$create'], [K('m.room.member', ALICE), '$join'], [K('m.room.power_levels'), '$pl']];
  const withTopic = (id: string) => new Map([...base, [K('m.room.topic'), id]]);

  it('no state sets resolve to an empty state; one resolves to itself', () => {
    for (const v of [v2, v11, v12, requireRoomVersion('1')]) {
      expect(resolveState(v, [], memoryInput(events, v)).size).toBe(0);
      expect([...resolveState(v, [withTopic('$t1')], memoryInput(events, v))]).toEqual([...withTopic('$t1')]);
    }
  });

  it('identical state sets need no event look-ups', () => {
    const io: StateResolutionInput = {
      getEvent: () => {
        throw new Error('no look-up expected');
      },
      getAuthChain: () => {
        throw new Error('no look-up expected');
      },
    };
    expect(resolveState(v11, [withTopic('$t1'), withTopic('$t1')], io).get(K('m.room.topic'))).toBe('$t1');
  });

  it('a conflicted event the server lacks cannot win; a missing unconflicted one is kept', () => {
    const sets = [new Map([...withTopic('$t1'), [K('m.room.name'), '$gone']]), new Map([...withTopic('$lost'), [K('m.room.name'), '$gone']])];
    for (const v of [v11, requireRoomVersion('1')]) {
      const out = resolveState(v, sets, memoryInput(events, v));
      expect(out.get(K('m.room.topic'))).toBe('$t1');
      expect(out.get(K('m.room.name'))).toBe('$gone');
    }
  });

  it('a key some state set lacks is re-checked in v2 but kept as is in v1', () => {
    const bob = ev('$bobtopic', { sender: BOB, auth: ['$create', '$pl'] }); // Bob is not even joined
    const ev2 = store(...events.values(), bob);
    const sets = [new Map(base), withTopic('$bobtopic')];
    expect(resolveState(v11, sets, memoryInput(ev2, v11)).has(K('m.room.topic'))).toBe(false);
    const v1 = requireRoomVersion('1');
    expect(resolveState(v1, sets, memoryInput(ev2, v1)).get(K('m.room.topic'))).toBe('$bobtopic');
  });

  it('does not depend on the order of the state sets or their entries', () => {
    const sets = [withTopic('$t1'), withTopic('$t2')];
    const first = resolveState(v11, sets, memoryInput(events, v11));
    expect(first.get(K('m.room.topic'))).toBe('$t2');
    for (let seed = 0; seed < 6; seed++) {
      const random = rng(seed);
      const input = shuffled(sets, random).map((s) => new Map(shuffled([...s], random)));
      expect(resolveState(v11, input, memoryInput(events, v11))).toEqual(first);
    }
  });
});

// State resolution against the DAG fixtures in test/fixtures/state: each fixture is resolved with
// its events, state sets and state entries given in several shuffled orders, and must give the
// expected state every time.

import { describe, expect, it } from 'vitest';
import { resolveState } from '../../src/core/state/resolve.js';
import {
  idsOf,
  keyOf,
  loadFixtures,
  memoryInput,
  rng,
  shuffled,
  shuffledMap,
  stateOf,
  toEvents,
  versionOf,
  walkDag,
} from './state-helpers.js';

const fixtures = loadFixtures();
const SHUFFLES = 8;

describe('state resolution fixtures', () => {
  it('has fixtures', () => {
    expect(fixtures.length).toBeGreaterThan(10);
  });

  for (const fixture of fixtures) {
    describe(`${fixture.file}: ${fixture.description}`, () => {
      const version = versionOf(fixture);
      const events = toEvents(fixture, version);

      it('every expected event is a state event of the fixture, one per key', () => {
        const keys = fixture.expected_state.map((id) => keyOf(events.get(id)!));
        expect(new Set(keys).size).toBe(keys.length);
      });

      for (let seed = 1; seed <= SHUFFLES; seed++) {
        it(`resolves to the expected state (input order ${seed})`, () => {
          const random = rng(seed * 7919);
          // The event store's insertion order is shuffled too.
          const store = new Map(shuffled([...events], random));
          const io = memoryInput(store, version, fixture.rejected);
          let stateSets;
          if (fixture.resolve.state_sets) {
            stateSets = fixture.resolve.state_sets.map((ids) => stateOf(shuffled(ids, random), store));
          } else {
            const walked = walkDag(fixture, store, version, io, resolveState, random);
            stateSets = walked.stateSets;
            for (const [eventId, ids] of Object.entries(fixture.expected_state_before ?? {})) {
              expect(idsOf(walked.stateBefore.get(eventId)!), `state before ${eventId}`).toEqual([...ids].sort());
            }
          }
          const input = shuffled(stateSets.map((s) => shuffledMap(s, random)), random);
          const resolved = resolveState(version, input, io);
          expect(idsOf(resolved)).toEqual([...fixture.expected_state].sort());
          for (const [key, id] of resolved) expect(keyOf(events.get(id)!)).toBe(key);
        });
      }
    });
  }
});

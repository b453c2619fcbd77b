// State resolution of room version 1 (spec rooms v1 "State resolution"): power levels, then join
// rules, then memberships, each conflict settled by replaying its events in depth order against
// the state resolved so far, then every other conflict by depth and sha1 of the event ID.

import { createHash } from 'node:crypto';
import { stateTuple, splitStateTuple, type RoomEvent } from '../events/event.js';
import type { RoomVersion } from '../events/room-versions.js';
import { authTypesForEvent } from '../auth/auth-types.js';
import { checkAuth } from '../auth/rules.js';
import { createResolutionContext, type ResolutionContext } from './context.js';
import { separateStateSets } from './separate.js';
import type { StateMap, StateResolutionInput } from './types.js';

const POWER_LEVELS_KEY = stateTuple('m.room.power_levels', '');

interface Candidate {
  readonly event: RoomEvent;
  readonly sha1: string;
}

function candidate(event: RoomEvent): Candidate {
  return { event, sha1: createHash('sha1').update(event.eventId, 'utf8').digest('hex') };
}

/** Ascending depth, then descending sha1(event_id): the replay order of the auth-event passes. */
function byDepthAscSha1Desc(a: Candidate, b: Candidate): number {
  if (a.event.depth !== b.event.depth) return a.event.depth - b.event.depth;
  return a.sha1 < b.sha1 ? 1 : a.sha1 > b.sha1 ? -1 : 0;
}

/** Descending depth, then ascending sha1(event_id): the preference order for other conflicts. */
function byDepthDescSha1Asc(a: Candidate, b: Candidate): number {
  return -byDepthAscSha1Desc(a, b);
}

/** The events of the resolved state `state` that the rules read for `event`. */
function authEventsFromState(ctx: ResolutionContext, event: RoomEvent, state: StateMap): RoomEvent[] {
  const out: RoomEvent[] = [];
  for (const [type, stateKey] of authTypesForEvent(event.type, event.stateKey, event.sender, event.content, ctx.version)) {
    const id = state.get(stateTuple(type, stateKey));
    const ev = id === undefined ? undefined : ctx.event(id);
    if (ev) out.push(ev);
  }
  return out;
}

function allowedIn(ctx: ResolutionContext, event: RoomEvent, state: StateMap): boolean {
  return checkAuth(event, authEventsFromState(ctx, event, state), ctx.version).allowed;
}

/**
 * One conflicted power levels, join rules or membership key: sort its events by ascending depth
 * then descending sha1(event_id), take the first, then each next one while the rules allow it in
 * the state with the previous one applied; the last allowed wins.
 */
export function resolveAuthConflictV1(ctx: ResolutionContext, key: string, events: readonly RoomEvent[], state: StateMap): string {
  const ordered = events.map(candidate).sort(byDepthAscSha1Desc);
  const working = new Map(state);
  let winner = ordered[0]!.event;
  working.set(key, winner.eventId);
  for (let i = 1; i < ordered.length; i++) {
    const next = ordered[i]!.event;
    if (!allowedIn(ctx, next, working)) break;
    winner = next;
    working.set(key, next.eventId);
  }
  return winner.eventId;
}

/**
 * Any other conflicted key: the event with the highest depth and lowest sha1(event_id) that the
 * rules allow in `state`. If none is allowed the spec is silent; like Synapse, the last in that
 * order (lowest depth) is kept so the key does not vanish.
 */
export function resolveOtherConflictV1(ctx: ResolutionContext, events: readonly RoomEvent[], state: StateMap): string {
  const ordered = events.map(candidate).sort(byDepthDescSha1Asc);
  for (const c of ordered) if (allowedIn(ctx, c.event, state)) return c.event.eventId;
  return ordered[ordered.length - 1]!.event.eventId;
}

/**
 * Resolves state sets with the room version 1 algorithm. R starts as the union of the states
 * without conflicting keys (a key only some states have is not a conflict in v1). Conflicting
 * events the server lacks are dropped; a key left with one event is taken as is.
 *
 * The spec does not order keys within a pass. So that the result cannot depend on input order,
 * each key of a pass is resolved against R as it stood when the pass began (as Synapse does),
 * and R is updated once the pass ends.
 */
export function resolveStateV1(
  version: RoomVersion,
  stateSets: readonly StateMap[],
  io: StateResolutionInput,
): Map<string, string> {
  if (stateSets.length === 0) return new Map();
  if (stateSets.length === 1) return new Map(stateSets[0]);
  const { unconflicted, conflicted } = separateStateSets(stateSets, { missingKeyConflicts: false });
  if (conflicted.size === 0) return unconflicted;

  const ctx = createResolutionContext(version, io);
  const resolved = new Map(unconflicted);
  const pending = new Map<string, RoomEvent[]>();
  for (const [key, ids] of conflicted) {
    const events: RoomEvent[] = [];
    for (const id of ids) {
      const ev = ctx.event(id);
      if (ev) events.push(ev);
    }
    if (events.length === 1) resolved.set(key, events[0]!.eventId);
    else if (events.length > 1) pending.set(key, events);
  }

  const pass = (keys: string[], resolveKey: (key: string, events: RoomEvent[], state: StateMap) => string): void => {
    const snapshot = new Map(resolved);
    const results: Array<[string, string]> = keys.map((k) => [k, resolveKey(k, pending.get(k)!, snapshot)]);
    for (const [k, id] of results) {
      resolved.set(k, id);
      pending.delete(k);
    }
  };
  const keysOfType = (type: string) => [...pending.keys()].filter((k) => splitStateTuple(k)[0] === type);
  const authPass = (key: string, events: RoomEvent[], state: StateMap) => resolveAuthConflictV1(ctx, key, events, state);

  if (pending.has(POWER_LEVELS_KEY)) pass([POWER_LEVELS_KEY], authPass);
  pass(keysOfType('m.room.join_rules'), authPass);
  pass(keysOfType('m.room.member'), authPass);
  pass([...pending.keys()], (_key, events, state) => resolveOtherConflictV1(ctx, events, state));
  return resolved;
}

// State resolution entry point: picks the algorithm the room version names (v1, v2 or v2.1) and
// re-exports the types callers need. Pure: all I/O comes in through `StateResolutionInput`.
//
// Missing events: an event `getEvent` does not return is treated as Synapse and tuwunel treat it.
// Unconflicted entries are kept as they are. A missing conflicted or auth-difference event is
// dropped from the full conflicted set (v2) or from its key's candidates (v1), so it cannot win.
// A missing auth event is skipped when choosing auth events, power levels or mainlines.
// Rejected events (`isRejected`) are never used as auth events in the iterative auth checks; a
// rejected event in the full conflicted set is checked again like any other (spec rooms v2
// "Rejected events"; Synapse instead keeps it out).
//
// Steps, one per file: separate.ts (unconflicted/conflicted), auth-difference.ts,
// conflicted-subgraph.ts (v2.1), power-ordering.ts (reverse topological power ordering),
// iterative-auth-checks.ts, mainline.ts, v2.ts (v2/v2.1 algorithm), v1.ts (room version 1).

import type { RoomVersion } from '../events/room-versions.js';
import type { StateMap, StateResolutionInput } from './types.js';
import { resolveStateV1 } from './v1.js';
import { resolveStateV2 } from './v2.js';

export type { StateMap, StateResolutionInput } from './types.js';

/**
 * The resolution of `stateSets` (the states after each prev event, each a map of state tuple to
 * event ID) in a room of `version`. The result does not depend on the order of the state sets or
 * of their entries.
 */
export function resolveState(
  version: RoomVersion,
  stateSets: readonly StateMap[],
  io: StateResolutionInput,
): Map<string, string> {
  switch (version.stateResolution) {
    case 'v1':
      return resolveStateV1(version, stateSets, io);
    case 'v2':
    case 'v2.1':
      return resolveStateV2(version, stateSets, io);
  }
}

// Entry point of the rooms lifecycle area (room creation, membership, upgrades, aliases, directory),
// plus the two functions other areas call: validateCanonicalAlias (state sends) and
// isRoomForgotten (sync).
import type { JsonObject } from '../../core/json/types.js';
import type { RoomLifecycleService } from './service.js';

export { createRoomLifecycle, type RoomLifecycleDeps, type RoomLifecycleService } from './service.js';
export type { LifecycleRequester, LifecycleUsers, PublicRoomsParams, RemoteRoomHooks } from './context.js';
export { parsePublicRoomsBody, parsePublicRoomsQuery } from './directory.js';

/** The services object these helpers read (AppServices has this field). */
export interface WithRoomLifecycle {
  readonly roomLifecycle?: RoomLifecycleService | undefined;
}

/**
 * For PUT /rooms/{roomId}/state/m.room.canonical_alias/: throws 400 M_INVALID_PARAM when `alias` or
 * `alt_aliases` hold malformed aliases and 400 M_BAD_ALIAS when an alias added by this content does
 * not point to `roomId` (client-server API m.room.canonical_alias). Aliases already in the current
 * event are not checked again. Without the lifecycle service no alias can be checked: no-op.
 */
export async function validateCanonicalAlias(services: WithRoomLifecycle, roomId: string, content: JsonObject): Promise<void> {
  await services.roomLifecycle?.validateCanonicalAlias(roomId, content);
}

/** Whether `userId` forgot `roomId` (POST /forget): sync leaves such rooms out of `leave`. */
export async function isRoomForgotten(services: WithRoomLifecycle, userId: string, roomId: string): Promise<boolean> {
  return (await services.roomLifecycle?.isRoomForgotten(userId, roomId)) ?? false;
}

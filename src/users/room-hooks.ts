// Connects the users service to the rooms writer: profile changes become new m.room.member events in
// every joined room (spec "Events on Change of Profile Information"), and a deactivated user leaves
// every room, as Synapse does.
import type { JsonObject } from '../core/json/types.js';
import type { UsersService } from './service.js';

const MEMBER = 'm.room.member';

/** The part of rooms/ (RoomsService) this needs; structural so users/ does not import rooms/. */
export interface MemberEventWriter {
  readonly store: {
    getRoomsForUser(userId: string, membership?: string): Promise<string[]>;
    getCurrentStateEvent(roomId: string, type: string, stateKey: string): Promise<{ readonly event: { readonly content: JsonObject } } | undefined>;
  };
  sendLocalEvent(roomId: string, input: { type: string; stateKey?: string; content: JsonObject; sender: string }): Promise<unknown>;
}

export interface RoomHooksOptions {
  /** Called when one room cannot be updated; the others still are. */
  onRoomError?: (roomId: string, userId: string, err: unknown) => void;
}

/**
 * Registers the listeners on `users.hooks` and returns a function that removes them. Updates run one
 * room after another (the writer serialises per room anyway; a user in thousands of rooms should not
 * start thousands of writes at once).
 */
export function connectUsersToRooms(users: UsersService, rooms: MemberEventWriter, opts: RoomHooksOptions = {}): () => void {
  const onError = opts.onRoomError ?? ((roomId, userId, err) => console.error(`cannot update ${userId} in ${roomId}`, err));

  const onProfile = async (userId: string, change: { displayname?: string | undefined; avatar_url?: string | undefined }) => {
    for (const roomId of await rooms.store.getRoomsForUser(userId, 'join')) {
      try {
        const current = await rooms.store.getCurrentStateEvent(roomId, MEMBER, userId);
        const content = current?.event.content;
        if (!content || content.membership !== 'join') continue;
        const next: JsonObject = { ...content };
        let changed = false;
        for (const key of ['displayname', 'avatar_url'] as const) {
          if (!(key in change)) continue;
          const value = change[key];
          if (value === undefined) {
            if (key in next) {
              delete next[key];
              changed = true;
            }
          } else if (next[key] !== value) {
            next[key] = value;
            changed = true;
          }
        }
        // A join carrying someone's invite signature or join authorisation is not repeated as is.
        delete next.join_authorised_via_users_server;
        if (changed) await rooms.sendLocalEvent(roomId, { type: MEMBER, stateKey: userId, content: next, sender: userId });
      } catch (e) {
        onError(roomId, userId, e);
      }
    }
  };

  const onDeactivated = async (userId: string) => {
    for (const membership of ['join', 'invite', 'knock']) {
      for (const roomId of await rooms.store.getRoomsForUser(userId, membership)) {
        try {
          await rooms.sendLocalEvent(roomId, { type: MEMBER, stateKey: userId, content: { membership: 'leave' }, sender: userId });
        } catch (e) {
          onError(roomId, userId, e);
        }
      }
    }
  };

  users.hooks.profileChanged.push(onProfile);
  users.hooks.userDeactivated.push(onDeactivated);
  return () => {
    users.hooks.profileChanged.splice(users.hooks.profileChanged.indexOf(onProfile) >>> 0, 1);
    users.hooks.userDeactivated.splice(users.hooks.userDeactivated.indexOf(onDeactivated) >>> 0, 1);
  };
}

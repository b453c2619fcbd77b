// Rooms across servers: the membership handshakes both ways (server.ts answers other servers,
// remote.ts acts for our users) and the rooms lifecycle hooks they fill (remote joins, knocks,
// invites and leaves; remote aliases and directories through the queries).
import type { Logger } from 'pino';
import type { SigningKey } from '../../core/crypto/ed25519.js';
import type { RemoteRoomHooks } from '../../rooms/lifecycle/index.js';
import type { RoomsService } from '../../rooms/service.js';
import type { Store } from '../../store/index.js';
import type { FederationClient } from '../client.js';
import type { EventPipeline } from '../inbound/pipeline.js';
import type { KeyRing } from '../keys.js';
import type { FederationQueries } from '../queries/index.js';
import { RemoteMembership, type RemoteMembershipLimits } from './remote.js';
import { MembershipServer, type PduFanout } from './server.js';

export { MembershipServer, type PduFanout, type RawJson, type SubmittedEvent } from './server.js';
export { RemoteMembership, DEFAULT_REMOTE_MEMBERSHIP_LIMITS, type JoinOutcome, type MembershipRequest, type RemoteMembershipLimits } from './remote.js';
export { requestedVersions, verQuery } from './events.js';

export interface MembershipFederationDeps {
  readonly store: Store;
  readonly rooms: RoomsService;
  readonly keyRing: KeyRing;
  readonly client: FederationClient;
  readonly serverName: string;
  readonly signingKey: SigningKey;
  readonly localUserExists: (userId: string) => Promise<boolean>;
  readonly sender?: () => PduFanout | undefined;
  readonly pipeline?: () => EventPipeline | undefined;
  readonly clock?: (() => number) | undefined;
  readonly logger?: Logger | undefined;
  readonly limits?: Partial<RemoteMembershipLimits> | undefined;
}

export interface MembershipFederation {
  /** make_*, send_*, invite: the resident server's side. */
  readonly server: MembershipServer;
  /** Remote joins, knocks, leaves and invites for our users. */
  readonly remote: RemoteMembership;
}

export function createMembershipFederation(deps: MembershipFederationDeps): MembershipFederation {
  const server = new MembershipServer(deps);
  const remote = new RemoteMembership(deps);
  return { server, remote };
}

/** The rooms lifecycle's federation hooks (RoomLifecycleService.setRemoteHooks). */
export function remoteRoomHooks(membership: MembershipFederation, queries: FederationQueries | undefined): RemoteRoomHooks {
  const hooks: RemoteRoomHooks = {
    remoteJoin: (input) => membership.remote.join(input),
    remoteKnock: (input) => membership.remote.knock(input),
    remoteInvite: (input) => membership.remote.invite(input),
    remoteLeave: (input) => membership.remote.leave(input),
  };
  if (queries) {
    hooks.queryAlias = (alias) => queries.queryAlias(alias);
    hooks.publicRooms = (server, params) => queries.remotePublicRooms(server, params);
  }
  return hooks;
}

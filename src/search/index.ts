// Builds this area's services (search, user directory, reports, OpenID tokens) and installs the
// derived writers that keep their tables in step with the room log. Call once per store, before
// any event is written.
import type { Store } from '../store/index.js';
import type { UsersService } from '../users/service.js';
import { installEventSearchIndex } from './event-index.js';
import { createOpenIdTokens, type OpenIdTokens } from './openid.js';
import { createReportsService, type ReportsService } from './reports.js';
import { createSearchService, type SearchService, type SearchServiceDeps } from './service.js';
import { createUserDirectory, installUserDirectory, type UserDirectoryService } from './user-directory.js';

export interface SearchAreaDeps {
  readonly store: Store;
  readonly config: { server_name: string; user_directory: { search_all_users: boolean } };
  /** For reports of users: only existing local accounts are recorded. */
  readonly users?: Pick<UsersService, 'store'>;
  readonly clock?: () => number;
  readonly txnLookup?: SearchServiceDeps['txnLookup'];
  readonly aggregations?: SearchServiceDeps['aggregations'];
}

export interface SearchArea {
  search: SearchService;
  userDirectory: UserDirectoryService;
  reports: ReportsService;
  openIdTokens: OpenIdTokens;
}

export function createSearchArea(deps: SearchAreaDeps): SearchArea {
  const { store, config } = deps;
  const clock = deps.clock ?? Date.now;
  installEventSearchIndex(store);
  installUserDirectory(store, config.server_name);
  return {
    search: createSearchService({
      store,
      clock,
      ...(deps.txnLookup ? { txnLookup: deps.txnLookup } : {}),
      ...(deps.aggregations ? { aggregations: deps.aggregations } : {}),
    }),
    userDirectory: createUserDirectory({ db: store.db, searchAllUsers: config.user_directory.search_all_users }),
    reports: createReportsService({
      store,
      serverName: config.server_name,
      clock,
      userExists: async (userId) => (deps.users ? (await deps.users.store.getUser(userId)) !== undefined : false),
    }),
    openIdTokens: createOpenIdTokens({ db: store.db, serverName: config.server_name, clock }),
  };
}

// GET /pushrules/, GET /pushrules/global/, GET /pushrules/global/{kind}/, GET|PUT|DELETE
// /pushrules/global/{kind}/{ruleId}, GET|PUT /pushrules/global/{kind}/{ruleId}/enabled and .../actions
// (module "Push Notifications", pushrules.yaml).
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function pushRulesRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, push } = services;
    if (!users || !push) return;

    // The spec's paths end in "/"; clients also call them without it.
    for (const path of ['/pushrules/', '/pushrules']) {
      clientRoute(app, users, { method: 'GET', path, auth: 'required', handler: async ({ requester }) => push.getPushRules(requester.userId) });
    }
    for (const path of ['/pushrules/global/', '/pushrules/global']) {
      clientRoute(app, users, { method: 'GET', path, auth: 'required', handler: async ({ requester }) => push.getPushRules(requester.userId).global });
    }
    clientRoute(app, users, {
      method: 'GET',
      path: '/pushrules/global/:kind/',
      auth: 'required',
      handler: async ({ requester, params }) => push.getRulesOfKind(requester.userId, params.kind!),
    });

    const rulePath = '/pushrules/global/:kind/:ruleId';
    clientRoute(app, users, {
      method: 'GET',
      path: rulePath,
      auth: 'required',
      handler: async ({ requester, params }) => push.getRule(requester.userId, params.kind!, params.ruleId!),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: rulePath,
      auth: 'required',
      handler: async ({ requester, params, query, body }) => {
        await push.putRule(requester, params.kind!, params.ruleId!, body, { before: query.before, after: query.after });
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'DELETE',
      path: rulePath,
      auth: 'required',
      handler: async ({ requester, params }) => {
        await push.deleteRule(requester, params.kind!, params.ruleId!);
        return {};
      },
    });

    clientRoute(app, users, {
      method: 'GET',
      path: `${rulePath}/enabled`,
      auth: 'required',
      handler: async ({ requester, params }) => ({ enabled: push.getRule(requester.userId, params.kind!, params.ruleId!).enabled }),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: `${rulePath}/enabled`,
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await push.setRuleEnabled(requester, params.kind!, params.ruleId!, body);
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'GET',
      path: `${rulePath}/actions`,
      auth: 'required',
      handler: async ({ requester, params }) => ({ actions: push.getRule(requester.userId, params.kind!, params.ruleId!).actions }),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: `${rulePath}/actions`,
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await push.setRuleActions(requester, params.kind!, params.ruleId!, body);
        return {};
      },
    });
  };
}

// GET|POST /_synapse/admin/v1/register: Synapse's shared-secret registration (nonce + HMAC-SHA1),
// as used by register_new_matrix_user and our `register-user` command.
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';

export function adminRegisterRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;
    app.get('/_synapse/admin/v1/register', async () => users.issueRegistrationNonce());
    app.post('/_synapse/admin/v1/register', async (req) => users.registerWithSharedSecret(req.body));
  };
}

// `register-user`: creates an account through the shared-secret admin API
// (/_synapse/admin/v1/register), as Synapse's register_new_matrix_user does.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ConfigError, formatConfigError, loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { computeRegistrationMac } from '../users/shared-secret.js';

export const REGISTER_USER_USAGE = `usage: register-user [-u USER] [-p PASSWORD] [-a | --no-admin] [-t USER_TYPE]
                     [-c CONFIG | -k SHARED_SECRET] [SERVER_URL]

Creates a user through the shared-secret registration API of a running homeserver.

  -u, --user USER            localpart of the new user (asked for when missing)
  -p, --password PASSWORD    password of the new user (asked for when missing)
  -a, --admin                make the user a server admin
      --no-admin             do not make the user an admin (the default)
  -t, --user-type TYPE       "bot" or "support"
  -c, --config FILE          homeserver config: gives the shared secret and, when SERVER_URL is
                             omitted, the address of its client listener
  -k, --shared-secret SECRET the registration_shared_secret (instead of --config)
  SERVER_URL                 e.g. http://localhost:8008 (default: from --config, else http://localhost:8008)
`;

export interface RegisterUserIo {
  out(text: string): void;
  err(text: string): void;
  /** Asks a question on the terminal; undefined when there is no terminal to ask on. */
  prompt?: (question: string, hidden: boolean) => Promise<string>;
  fetch: typeof fetch;
}

/** The client URL of the first listener that serves the client API (preferring plain HTTP, as Synapse's tool does). */
export function clientUrlFromConfig(config: Config): string | undefined {
  const clients = config.listeners.filter((l) => l.mounts.includes('client'));
  const l = clients.find((x) => !x.tls) ?? clients[0];
  if (!l) return undefined;
  return `${l.tls ? 'https' : 'http'}://localhost:${l.port}`;
}

function terminalPrompt(): RegisterUserIo['prompt'] {
  if (!process.stdin.isTTY) return undefined;
  return (question, hidden) =>
    new Promise((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
      if (hidden) {
        // Echo nothing while the password is typed.
        const writable = rl as unknown as { _writeToOutput: (s: string) => void };
        let asked = false;
        writable._writeToOutput = (s: string) => {
          if (!asked) {
            process.stdout.write(s);
            asked = true;
          }
        };
      }
      rl.question(question, (answer) => {
        if (hidden) process.stdout.write('\n');
        rl.close();
        resolve(answer);
      });
    });
}

export function defaultRegisterUserIo(): RegisterUserIo {
  const prompt = terminalPrompt();
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    ...(prompt ? { prompt } : {}),
    fetch: globalThis.fetch,
  };
}

/** Runs the command; returns the process exit code (0 success, 1 failure, 2 usage error). */
export async function registerUserCommand(argv: string[], io: RegisterUserIo = defaultRegisterUserIo()): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        user: { type: 'string', short: 'u' },
        password: { type: 'string', short: 'p' },
        admin: { type: 'boolean', short: 'a' },
        'no-admin': { type: 'boolean' },
        'user-type': { type: 'string', short: 't' },
        config: { type: 'string', short: 'c' },
        'shared-secret': { type: 'string', short: 'k' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.err(`${(e as Error).message}\n\n${REGISTER_USER_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(REGISTER_USER_USAGE);
    return 0;
  }
  if (positionals.length > 1) {
    io.err(`unexpected argument: ${positionals[1]}\n\n${REGISTER_USER_USAGE}`);
    return 2;
  }
  if (values.admin && values['no-admin']) {
    io.err(`--admin and --no-admin cannot be used together\n\n${REGISTER_USER_USAGE}`);
    return 2;
  }

  let config: Config | undefined;
  if (values.config !== undefined) {
    try {
      config = loadConfigFile(values.config).config;
    } catch (e) {
      if (e instanceof ConfigError) {
        io.err(formatConfigError(e) + '\n');
        return 1;
      }
      throw e;
    }
  }
  const secret = values['shared-secret'] ?? config?.registration_shared_secret;
  if (!secret) {
    io.err('No shared secret: give -k SECRET, or -c CONFIG with registration_shared_secret set.\n');
    return 1;
  }
  const serverUrl = (positionals[0] ?? (config && clientUrlFromConfig(config)) ?? 'http://localhost:8008').replace(/\/+$/, '');

  let user = values.user;
  if (user === undefined) {
    if (!io.prompt) {
      io.err('No user given (-u) and no terminal to ask on.\n');
      return 1;
    }
    user = (await io.prompt('New user localpart: ', false)).trim();
  }
  if (!user) {
    io.err('Invalid user name\n');
    return 1;
  }
  let password = values.password;
  if (password === undefined) {
    if (!io.prompt) {
      io.err('No password given (-p) and no terminal to ask on.\n');
      return 1;
    }
    password = await io.prompt('Password: ', true);
    if (!password) {
      io.err('Password cannot be blank.\n');
      return 1;
    }
    if ((await io.prompt('Confirm password: ', true)) !== password) {
      io.err('Passwords do not match\n');
      return 1;
    }
  }
  let admin = values.admin ?? false;
  if (!values.admin && !values['no-admin'] && io.prompt) {
    const answer = (await io.prompt('Make admin [no]: ', false)).trim().toLowerCase();
    admin = answer === 'y' || answer === 'yes' || answer === 'true';
  }
  const userType = values['user-type'] ?? null;

  const endpoint = `${serverUrl}/_synapse/admin/v1/register`;
  try {
    const nonceRes = await io.fetch(endpoint);
    const nonceBody = (await nonceRes.json().catch(() => ({}))) as { nonce?: unknown; error?: unknown };
    if (!nonceRes.ok || typeof nonceBody.nonce !== 'string') {
      io.err(`ERROR! Received ${nonceRes.status} ${nonceRes.statusText}\n${nonceBody.error ?? ''}\n`);
      return 1;
    }
    const nonce = nonceBody.nonce;
    const mac = computeRegistrationMac(secret, { nonce, username: user, password, admin, userType });
    io.out(`Sending registration request...\n`);
    const res = await io.fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ nonce, username: user, password, mac, admin, user_type: userType }),
    });
    const body = (await res.json().catch(() => ({}))) as { user_id?: string; errcode?: string; error?: string };
    if (!res.ok) {
      io.err(`ERROR! Received ${res.status} ${res.statusText}\n${body.errcode ?? ''}: ${body.error ?? ''}\n`);
      return 1;
    }
    io.out(`Success! Registered ${body.user_id ?? user}${admin ? ' (admin)' : ''}.\n`);
    return 0;
  } catch (e) {
    io.err(`ERROR! Cannot reach ${serverUrl}: ${(e as Error).message}\n`);
    return 1;
  }
}

// Command-line entry point: serve | generate-config | generate-keys | migrate | register-user.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { renderConfigYaml } from './config/example.js';
import { ConfigError, formatConfigError, loadConfigFile, parseConfigYaml, releaseConfigLibraries, type LoadedConfig } from './config/load.js';
import { formatSigningKeyFile, generateSigningKey } from './core/crypto/ed25519.js';
import { startServer, type RunningServer } from './server.js';
import { openDatabase, schemaVersion } from './store/db.js';

const USAGE = `usage: tsmatrix <command> [options]

commands:
  serve [--config FILE]          run the homeserver (the default command). Without --config it uses
                                 the defaults: server name localhost:8008, data in ./data,
                                 listening on http://127.0.0.1:8008
  generate-config [--server-name NAME] [--data-dir DIR] [--bind ADDRESS]
                                 print a complete, commented configuration file
  generate-keys [--output FILE]  write a new ed25519 signing key in Synapse's format (stdout without --output)
  migrate [--config FILE]        create or upgrade the database schema, then exit
  register-user -u USER -p PASSWORD [--admin] [--config FILE | -k SECRET] [SERVER_URL]
                                 create an account on a running server through the shared-secret
                                 admin API (like Synapse's register_new_matrix_user)
  help                           show this text
`;

/** The options each command takes; anything else is a usage error. */
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  serve: ['config'],
  'generate-config': ['server-name', 'data-dir', 'bind'],
  'generate-keys': ['output'],
  migrate: ['config'],
  help: [],
};

function usageError(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function loadOrExit(path: string | undefined): LoadedConfig {
  try {
    return loadConfigFile(path);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(formatConfigError(e) + '\n');
      process.exit(1);
    }
    throw e;
  }
}

function makeLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

async function serve(configPath: string | undefined): Promise<void> {
  const { config, warnings } = loadOrExit(configPath);
  // The server reads its configuration once: zod and yaml can go (config/load.ts).
  releaseConfigLibraries();
  const logger = makeLogger(config.log_level);
  logger.info(configPath ? `configuration: ${configPath}` : 'no --config given: using the defaults (see config.example.yaml)');
  for (const w of warnings) logger.warn(w);

  let server: RunningServer;
  try {
    server = await startServer(config, logger);
  } catch (e) {
    logger.fatal({ err: e }, `cannot start: ${(e as Error).message}`);
    process.exit(1);
  }
  logger.info('ready');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal} received: finishing in-flight requests, then stopping`);
    server.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (e: unknown) => {
        logger.error({ err: e }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function generateConfig(serverName: string | undefined, dataDir: string | undefined, bind: string | undefined): void {
  const text = renderConfigYaml({
    ...(serverName !== undefined ? { serverName } : {}),
    ...(dataDir !== undefined ? { dataDir } : {}),
    ...(bind !== undefined ? { bindAddress: bind } : {}),
    registrationSharedSecret: randomBytes(32).toString('base64url'),
  });
  try {
    parseConfigYaml(text, 'the generated configuration'); // refuses e.g. an invalid --server-name
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(formatConfigError(e) + '\n');
      process.exit(1);
    }
    throw e;
  }
  process.stdout.write(text);
}

function generateKeys(output: string | undefined): void {
  const text = formatSigningKeyFile([generateSigningKey()]);
  if (output === undefined) {
    process.stdout.write(text);
    return;
  }
  try {
    mkdirSync(dirname(output), { recursive: true });
    writeFileSync(output, text, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(err.code === 'EEXIST' ? `${output} already exists; not overwriting it\n` : `cannot write ${output}: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`wrote a new signing key to ${output}\n`);
}

function migrate(configPath: string | undefined): void {
  const { config, warnings } = loadOrExit(configPath);
  const logger = makeLogger(config.log_level);
  for (const w of warnings) logger.warn(w);
  const path = config.database.args.database;
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = openDatabase(path);
  logger.info(`database ${path} is at schema version ${schemaVersion(db)}`);
  db.close();
}

async function main(argv: string[]): Promise<void> {
  // register-user has its own options (Synapse's register_new_matrix_user's), parsed by its module.
  if (argv[0] === 'register-user') {
    process.exitCode = await (await import('./cli/register-user.js')).registerUserCommand(argv.slice(1));
    return;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        'server-name': { type: 'string' },
        'data-dir': { type: 'string' },
        bind: { type: 'string' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    usageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  const command = positionals[0] ?? 'serve';
  if (values.help || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const allowed = Object.hasOwn(COMMAND_OPTIONS, command) ? COMMAND_OPTIONS[command]! : undefined;
  if (!allowed) usageError(`unknown command: ${command}`);
  if (positionals.length > 1) usageError(`unexpected argument: ${positionals[1]}`);
  for (const name of Object.keys(values)) {
    if (!allowed.includes(name)) usageError(`${command} does not take --${name}`);
  }

  switch (command) {
    case 'serve':
      return serve(values.config);
    case 'generate-config':
      return generateConfig(values['server-name'], values['data-dir'], values.bind);
    case 'generate-keys':
      return generateKeys(values.output);
    case 'migrate':
      return migrate(values.config);
  }
}

await main(process.argv.slice(2));

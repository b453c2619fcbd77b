// Loads the YAML configuration: parses, warns about unknown keys, validates with the zod schema,
// applies defaults and resolves paths against the working directory (as Synapse does).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import type * as Yaml from 'yaml';
import type { z } from 'zod';
import {
  buildConfigSchema,
  expandResources,
  RESOURCE_NAMES,
  UNSUPPORTED_LISTENER_TYPES,
  UNSUPPORTED_SYNAPSE_RESOURCES,
  type Config,
  type ListenerConfig,
  type ConfigSchema,
  type ResourceName,
  type ZodNamespace,
} from './schema.js';

// zod and yaml are needed only while a configuration file is read, yet loaded they hold about 5 MB
// of an idle server's memory (sources, bytecode, zod's locales). They are therefore loaded through
// require, on first use, and releaseConfigLibraries() drops them from require's cache once the
// server has its configuration, so V8 can collect them. Each load uses a require function of its
// own: the module a require function stands for lists everything it loaded as its children, and
// a long-lived one would keep zod alive.
const CONFIG_PACKAGES = ['zod', 'yaml'] as const;
let configLibraries: { z: ZodNamespace; yaml: typeof Yaml; schema: ConfigSchema } | undefined;

function libraries(): NonNullable<typeof configLibraries> {
  if (configLibraries === undefined) {
    const requireOnce = createRequire(import.meta.url);
    const z = (requireOnce('zod') as { z: ZodNamespace }).z;
    configLibraries = { z, yaml: requireOnce('yaml') as typeof Yaml, schema: buildConfigSchema(z) };
  }
  return configLibraries;
}

/**
 * Forgets zod, yaml and the schema after the last configuration is read (the `serve` command calls
 * it once it has its configuration). A later load simply loads them again.
 */
export function releaseConfigLibraries(): void {
  if (configLibraries === undefined) return;
  configLibraries = undefined;
  const resolver = createRequire(import.meta.url);
  const roots = CONFIG_PACKAGES.map((name) => packageRoot(resolver, name));
  for (const file of Object.keys(resolver.cache)) {
    if (roots.some((root) => file.startsWith(root))) delete resolver.cache[file];
  }
}

/** The folder of an installed package, with a trailing separator (…/node_modules/<name>/). */
function packageRoot(resolver: NodeJS.Require, name: string): string {
  const main = resolver.resolve(name);
  const marker = `${sep}node_modules${sep}${name}${sep}`;
  const at = main.lastIndexOf(marker);
  return at < 0 ? `${dirname(main)}${sep}` : main.slice(0, at + marker.length);
}

export interface ConfigIssue {
  /** Dotted key path, e.g. `listeners.0.port`; empty for the file as a whole. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** One line per problem, `config error: <key>: <problem>`, as printed before exiting. */
export function formatConfigError(e: ConfigError): string {
  return e.issues.map((i) => `config error: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n');
}

export interface LoadedConfig {
  config: Config;
  /** Keys that were ignored or settings that have no effect, one sentence each, for the log. */
  warnings: string[];
}

export interface LoadOptions {
  /** Relative paths in the file are resolved against this folder (default: process.cwd()). */
  cwd?: string;
}

const NOT_SUPPORTED: Record<string, string> = {
  log_config: 'log_config is not supported (set log_level instead); ignored',
};

/**
 * Validates an already-parsed configuration object (the YAML document's value; `undefined` or
 * `null` for "no file"). Throws ConfigError naming each bad key.
 */
export function parseConfig(raw: unknown, opts: LoadOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError([{ path: '', message: 'the configuration must be a YAML mapping of keys to values' }]);
  }
  const input = dropNulls(raw ?? {}) as Record<string, unknown>;
  const warnings: string[] = [];
  const configSchema = libraries().schema;
  for (const key of findUnknownKeys(configSchema, input, [])) {
    warnings.push(NOT_SUPPORTED[key] ?? `unknown config key "${key}" ignored`);
  }

  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((iss) => ({ path: iss.path.map(String).join('.'), message: innermostMessage(iss) })),
    );
  }
  const parsed = result.data;

  const listeners: ListenerConfig[] = [];
  parsed.listeners.forEach((l, i) => {
    if ((UNSUPPORTED_LISTENER_TYPES as readonly string[]).includes(l.type)) {
      warnings.push(`listeners.${i}: listener type "${l.type}" is not supported; this listener is skipped`);
      return;
    }
    const type = l.type as 'http' | 'metrics';
    const resources = l.resources.map((r, j) => {
      const names: ResourceName[] = [];
      for (const n of r.names) {
        if ((RESOURCE_NAMES as readonly string[]).includes(n)) names.push(n as ResourceName);
        else if ((UNSUPPORTED_SYNAPSE_RESOURCES as readonly string[]).includes(n))
          warnings.push(`listeners.${i}.resources.${j}.names: resource "${n}" is not supported; ignored`);
        else warnings.push(`listeners.${i}.resources.${j}.names: unknown resource "${n}" ignored`);
      }
      return r.compress === undefined ? { names } : { names, compress: r.compress };
    });
    listeners.push({
      port: l.port,
      bind_addresses: l.bind_addresses,
      tls: l.tls,
      type,
      x_forwarded: l.x_forwarded,
      resources,
      mounts: expandResources(type, resources.flatMap((r) => r.names)),
    });
  });

  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  const dbPath = parsed.database.args.database;
  const config: Config = {
    ...parsed,
    listeners,
    database: {
      ...parsed.database,
      args: { ...parsed.database.args, database: dbPath === ':memory:' ? dbPath : abs(dbPath) },
    },
    signing_key_path: abs(parsed.signing_key_path),
    media_store_path: abs(parsed.media_store_path),
    tls_certificate_path: parsed.tls_certificate_path === undefined ? undefined : abs(parsed.tls_certificate_path),
    tls_private_key_path: parsed.tls_private_key_path === undefined ? undefined : abs(parsed.tls_private_key_path),
    federation_custom_ca_list: parsed.federation_custom_ca_list?.map(abs),
  };
  if (config.listeners.length === 0) {
    warnings.push('no listeners are configured: the server will not answer any request');
  }
  return { config, warnings };
}

/** Parses YAML text and validates it. `source` names the file in messages. */
export function parseConfigYaml(text: string, source: string, opts: LoadOptions = {}): LoadedConfig {
  // YAML 1.1, as PyYAML reads Synapse's homeserver.yaml (`yes`/`no` are booleans there).
  const doc = libraries().yaml.parseDocument(text, { prettyErrors: true, uniqueKeys: true, version: '1.1' });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({ path: '', message: `${source}: invalid YAML: ${e.message.split('\n')[0]}` })),
    );
  }
  return parseConfig(doc.toJS({ maxAliasCount: 100 }), opts);
}

/** Reads and validates the file at `path`; with no path, the defaults. */
export function loadConfigFile(path: string | undefined, opts: LoadOptions = {}): LoadedConfig {
  if (path === undefined) return parseConfig(undefined, opts);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError([{ path: '', message: `cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}` }]);
  }
  return parseConfigYaml(text, path, opts);
}

/** A bad map key is reported as "Invalid key in record" wrapping the key schema's own message. */
function innermostMessage(iss: z.core.$ZodIssue): string {
  if (iss.code === 'invalid_key' && iss.issues[0]) return innermostMessage(iss.issues[0]);
  return iss.message;
}

/** YAML `key:` with no value means "not set": drop nulls so defaults apply, as Synapse does. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
  return out;
}

interface ZodDefLike {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
}

/** Dotted paths of keys in `value` that `schema` does not declare (zod objects silently strip them). */
export function findUnknownKeys(schema: z.ZodType, value: unknown, path: string[]): string[] {
  const def = (schema as unknown as { _zod: { def: ZodDefLike } })._zod.def;
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
    case 'readonly':
      return findUnknownKeys(def.innerType!, value, path);
    case 'pipe': {
      // A preprocess is pipe(transform, schema): the object shape lives on the `out` side.
      const inDef = (def.in as unknown as { _zod: { def: ZodDefLike } })._zod.def;
      return findUnknownKeys(inDef.type === 'transform' ? def.out! : def.in!, value, path);
    }
    case 'array':
      if (!Array.isArray(value)) return [];
      return value.flatMap((x, i) => findUnknownKeys(def.element!, x, [...path, String(i)]));
    case 'record':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
      return Object.entries(value).flatMap(([k, x]) => findUnknownKeys(def.valueType!, x, [...path, k]));
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
      const shape = def.shape!;
      const out: string[] = [];
      for (const [k, x] of Object.entries(value)) {
        const sub = shape[k];
        if (sub === undefined) out.push([...path, k].join('.'));
        else out.push(...findUnknownKeys(sub, x, [...path, k]));
      }
      return out;
    }
    default:
      return [];
  }
}

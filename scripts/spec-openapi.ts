// The spec's OpenAPI files as the hostile-input probes (fuzz-client.ts, fuzz-federation.ts) read
// them: an endpoint's request body properties (with $ref and allOf/oneOf/anyOf followed), its query
// parameters, and nested property paths to put wrongly typed values at.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** One entry of shared/spec/endpoints.json. */
export interface SpecEndpoint {
  api: string;
  method: string;
  path: string;
  file: string;
}

export interface SpecOperation {
  /** Top-level properties of the JSON request body. */
  bodyProps: string[];
  queryParams: string[];
  /** Property paths two and three levels deep (`*`: array items, map values), with a body builder. */
  nested: { path: string[]; body: (value: unknown) => unknown }[];
}

const yamlCache = new Map<string, any>();
function loadYaml(file: string): any {
  let doc = yamlCache.get(file);
  if (doc === undefined) {
    // A $ref reached through allOf may be resolved against the wrong folder: skip what is not there.
    doc = existsSync(file) ? parseYaml(readFileSync(file, 'utf8')) : {};
    yamlCache.set(file, doc);
  }
  return doc;
}

function resolve(schema: any, file: string, depth = 0): { schema: any; file: string } {
  if (schema && typeof schema.$ref === 'string' && depth < 10) {
    const [rel, pointer] = schema.$ref.split('#');
    const target = rel ? join(dirname(file), rel) : file;
    let s = loadYaml(target);
    for (const part of (pointer ?? '').split('/').filter(Boolean)) s = s?.[part];
    return resolve(s, target, depth + 1);
  }
  return { schema, file };
}

function variants(schema: any): any[] {
  return [...(schema.allOf ?? []), ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])];
}

function propertiesOf(schemaIn: any, file: string): string[] {
  const { schema, file: f } = resolve(schemaIn, file);
  if (!schema) return [];
  const names = new Set<string>(Object.keys(schema.properties ?? {}));
  for (const part of variants(schema)) for (const n of propertiesOf(part, f)) names.add(n);
  return [...names];
}

/** Sub-schema of `name`, looking into allOf/oneOf/anyOf parts. */
function propertySchema(schema: any, file: string, name: string): { schema: any; file: string } | undefined {
  if (schema?.properties?.[name] !== undefined) return { schema: schema.properties[name], file };
  for (const part of variants(schema ?? {})) {
    const r = resolve(part, file);
    const found = propertySchema(r.schema, r.file, name);
    if (found) return found;
  }
  return undefined;
}

function nestedPaths(schemaIn: any, file: string, depth = 0): string[][] {
  if (depth >= 3) return [];
  const { schema, file: f } = resolve(schemaIn, file);
  if (!schema || typeof schema !== 'object') return [];
  const out: string[][] = [];
  for (const name of propertiesOf(schema, f)) {
    out.push([name]);
    const sub = propertySchema(schema, f, name);
    if (sub) for (const rest of nestedPaths(sub.schema, sub.file, depth + 1)) out.push([name, ...rest]);
  }
  if (schema.items) for (const rest of nestedPaths(schema.items, f, depth + 1)) out.push(['*', ...rest]);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    out.push(['*']);
    for (const rest of nestedPaths(schema.additionalProperties, f, depth + 1)) out.push(['*', ...rest]);
  }
  return out;
}

/** A body with `value` at `path`: arrays for `*` under an array, `{"@k:x": ...}` maps otherwise. */
function bodyAt(path: string[], value: unknown, schemaIn: any, file: string): unknown {
  if (path.length === 0) return value;
  const { schema, file: f } = resolve(schemaIn, file);
  const [head, ...rest] = path;
  if (head === '*') {
    if (schema?.items) return [bodyAt(rest, value, schema.items, f)];
    return { '@k:x': bodyAt(rest, value, schema?.additionalProperties, f) };
  }
  const sub = propertySchema(schema, f, head!);
  return { [head!]: bodyAt(rest, value, sub?.schema, sub?.file ?? f) };
}

/** The operation of `e` in its OpenAPI file (matched with the file's basePath); empty when not found. */
export function specOperation(specDir: string, e: SpecEndpoint): SpecOperation {
  const file = join(specDir, e.file);
  const doc = loadYaml(file);
  const basePath: string = doc.servers?.[0]?.variables?.basePath?.default ?? '';
  let op: any;
  for (const [p, ops] of Object.entries<any>(doc.paths ?? {})) {
    // The r0 copies the client probe makes have the same operations as v3.
    if (basePath + p === e.path || e.path.endsWith(p)) op = ops[e.method.toLowerCase()] ?? op;
  }
  if (!op) return { bodyProps: [], queryParams: [], nested: [] };
  const schema = op.requestBody?.content?.['application/json']?.schema;
  const bodyProps = schema ? propertiesOf(schema, file) : [];
  const nested = schema
    ? nestedPaths(schema, file).filter((p) => p.length > 1).map((p) => ({ path: p, body: (v: unknown) => bodyAt(p, v, schema, file) }))
    : [];
  const queryParams = (op.parameters ?? []).map((p: any) => resolve(p, file).schema).filter((p: any) => p?.in === 'query').map((p: any) => p.name as string);
  return { bodyProps, queryParams, nested };
}

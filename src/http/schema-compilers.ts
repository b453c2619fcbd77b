// Fastify's JSON-schema compilers (ajv with ajv-formats for validation, fast-json-stringify for
// responses), loaded when the first route with a schema is compiled instead of when each app is
// built. No route here declares a schema (bodies are checked by hand), and the two are ~2 MB of
// heap on an idle server. Resolved from fastify's own folder, so it is the copy fastify would load.
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
type ValidatorFactory = NonNullable<CompilersFactory['buildValidator']>;
type SerializerFactory = NonNullable<CompilersFactory['buildSerializer']>;

const requireFromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));

/**
 * `schemaController.compilersFactory` for Fastify(): the default compilers, each built on first use
 * (one pool per app, as Fastify does). Fastify then treats them as custom compilers, which only
 * changes one thing: a `headers` schema is passed through as written (its keys are not lowercased).
 */
export function lazySchemaCompilers(): Required<CompilersFactory> {
  // Each default factory is `(externalSchemas, options) => compiler`; passed through untouched.
  type Factory = (externalSchemas: unknown, options: unknown) => unknown;
  let validator: Factory | undefined;
  let serializer: Factory | undefined;
  const buildValidator: Factory = (externalSchemas, options) => {
    validator ??= (requireFromFastify('@fastify/ajv-compiler') as () => Factory)();
    return validator(externalSchemas, options);
  };
  const buildSerializer: Factory = (externalSchemas, options) => {
    serializer ??= (requireFromFastify('@fastify/fast-json-stringify-compiler') as () => Factory)();
    return serializer(externalSchemas, options);
  };
  return { buildValidator: buildValidator as ValidatorFactory, buildSerializer: buildSerializer as SerializerFactory };
}

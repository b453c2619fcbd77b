// Fastify's schema compilers loaded on first use (src/http/schema-compilers.ts): a route that declares
// a body, querystring or response schema is still validated and serialized as by Fastify's defaults.
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { lazySchemaCompilers } from '../../src/http/schema-compilers.js';

const apps: ReturnType<typeof Fastify>[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function appWithSchemaRoute() {
  const app = Fastify({ schemaController: { compilersFactory: lazySchemaCompilers() } });
  apps.push(app);
  app.post(
    '/echo',
    {
      schema: {
        body: { type: 'object', required: ['n'], properties: { n: { type: 'integer', minimum: 1 } } },
        querystring: { type: 'object', properties: { tag: { type: 'string', maxLength: 3 } } },
        response: { 200: { type: 'object', properties: { n: { type: 'integer' }, tag: { type: 'string' } } } },
      },
    },
    async (request) => {
      const body = request.body as { n: number };
      const query = request.query as { tag?: string };
      // `secret` is not in the response schema: fast-json-stringify leaves it out.
      return { n: body.n, tag: query.tag ?? '', secret: 'not serialized' };
    },
  );
  return app;
}

describe('lazySchemaCompilers', () => {
  it('validates bodies and query strings with ajv and serializes responses by their schema', async () => {
    const app = appWithSchemaRoute();
    const ok = await app.inject({ method: 'POST', url: '/echo?tag=abc', payload: { n: 2 } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ n: 2, tag: 'abc' });

    const badBody = await app.inject({ method: 'POST', url: '/echo', payload: { n: 0 } });
    expect(badBody.statusCode).toBe(400);
    expect(badBody.json().message).toMatch(/body\/n must be >= 1/);

    const missing = await app.inject({ method: 'POST', url: '/echo', payload: {} });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().message).toMatch(/must have required property 'n'/);

    const badQuery = await app.inject({ method: 'POST', url: '/echo?tag=toolong', payload: { n: 1 } });
    expect(badQuery.statusCode).toBe(400);
    expect(badQuery.json().message).toMatch(/querystring\/tag/);
  });

  it('keeps one compiler pool per app, as Fastify does', async () => {
    const a = appWithSchemaRoute();
    const b = appWithSchemaRoute();
    expect((await a.inject({ method: 'POST', url: '/echo', payload: { n: 5 } })).json()).toEqual({ n: 5, tag: '' });
    expect((await b.inject({ method: 'POST', url: '/echo', payload: { n: 'x' } })).statusCode).toBe(400);
  });
});

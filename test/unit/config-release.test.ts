// zod and yaml are only needed while a configuration is read: after releaseConfigLibraries (called
// by `serve` once it has its configuration) V8 can collect them, and a later load works again.
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parseConfigYaml, releaseConfigLibraries } from '../../src/config/load.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;
// Only resolve() and the cache are used: calling require() would make the zod module a child of
// this file's require function and keep it reachable.
const resolver = createRequire(import.meta.url);
const loaded = (name: string) => resolver.cache[resolver.resolve(name)]?.exports as object | undefined;
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('releaseConfigLibraries', () => {
  it('lets zod, yaml and the schema be garbage-collected, and loading again still works', async () => {
    expect(parseConfigYaml('server_name: a.example\n', 'first').config.server_name).toBe('a.example');
    // The module objects load.ts loaded: require's cache is one per process.
    const zodRef = new WeakRef(loaded('zod')!);
    const yamlRef = new WeakRef(loaded('yaml')!);
    releaseConfigLibraries();
    expect(Object.keys(resolver.cache).filter((f) => /node_modules[\\/](zod|yaml)[\\/]/.test(f))).toEqual([]);
    // A WeakRef's target stays alive until the job that created it ends.
    for (let i = 0; i < 5 && (zodRef.deref() !== undefined || yamlRef.deref() !== undefined); i++) {
      await tick();
      gc();
      await tick();
    }
    expect(zodRef.deref(), 'zod still reachable').toBeUndefined();
    expect(yamlRef.deref(), 'yaml still reachable').toBeUndefined();

    const again = parseConfigYaml('server_name: b.example\nenable_registration: yes\n', 'second');
    expect(again.config.server_name).toBe('b.example');
    expect(again.config.enable_registration).toBe(true);
    expect(() => parseConfigYaml('listeners: 5\n', 'third')).toThrow(/listeners/);
  });
});

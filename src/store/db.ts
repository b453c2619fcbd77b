// Opens the SQLite database (better-sqlite3, WAL), sets the pragmas and applies migrations/NNNN_*.sql in order.
import BetterSqlite3 from 'better-sqlite3';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export type Database = import('better-sqlite3').Database;

export interface OpenDatabaseOptions {
  /** Open without writing anything: no pragmas that write, no migrations (the schema must exist). */
  readonly?: boolean;
  /**
   * `NORMAL` (default) or `FULL`. In WAL mode both survive a killed process (kill -9, crash, OOM):
   * a commit is written to the WAL file before it returns, and the kill -9 test
   * (test/e2e/durability.test.ts) checks exactly that. They differ on an OS crash or power cut:
   * FULL fsyncs the WAL on every commit, so nothing committed is lost; NORMAL fsyncs only at
   * checkpoints, so the last commits can vanish (the database stays consistent). Measured on this
   * 2-core VM, single-row transactions: NORMAL 7-19 us/commit; FULL 44 us/commit on an idle disk
   * but 3.5-4.4 ms/commit while other processes write, which caps a writer that commits once per
   * event at ~250 events/s (bench/rooms.bench.ts reports both modes). Since every event is one
   * transaction, NORMAL is the default; operators who need power-loss durability choose FULL.
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** How long a writer waits for a lock held by another connection, in ms (default 5000). */
  busyTimeoutMs?: number;
  /** Folder of the migration files; defaults to the repository's `migrations/`. */
  migrationsDir?: string;
}

/**
 * `migrations/` sits two levels above this file both in the source tree (src/store/db.ts) and in
 * the build (dist/store/db.js), so one relative URL serves tsx and compiled runs alike.
 */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const MIGRATION_FILE = /^(\d{4})_([A-Za-z0-9_-]+)\.sql$/;

/** The migration files in `dir`, ordered by number; duplicate numbers are an error. */
export function listMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Migration[] {
  if (!existsSync(dir)) return [];
  const out: Migration[] = [];
  const seen = new Set<number>();
  for (const file of readdirSync(dir).sort()) {
    const m = MIGRATION_FILE.exec(file);
    if (!m) continue;
    const version = Number(m[1]);
    if (seen.has(version)) throw new Error(`two migrations numbered ${m[1]} in ${dir}`);
    seen.add(version);
    out.push({ version, name: m[2]!, sql: readFileSync(join(dir, file), 'utf8') });
  }
  return out.sort((a, b) => a.version - b.version);
}

/**
 * Applies every migration not yet recorded in schema_version, each in its own IMMEDIATE transaction
 * (so two processes starting at once cannot both apply one). Returns the versions applied now.
 */
export function runMigrations(db: Database, migrations: readonly Migration[]): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_ts INTEGER NOT NULL
  )`);
  const isApplied = db.prepare<[number], { version: number }>('SELECT version FROM schema_version WHERE version = ?');
  const record = db.prepare('INSERT INTO schema_version (version, name, applied_ts) VALUES (?, ?, ?)');
  const applied: number[] = [];
  for (const m of migrations) {
    const apply = db.transaction(() => {
      if (isApplied.get(m.version)) return false;
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
      return true;
    });
    if (apply.immediate()) applied.push(m.version);
  }
  return applied;
}

/** The highest applied schema version, or 0 for an empty database. */
export function schemaVersion(db: Database): number {
  const hasTable = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
    .get();
  if (!hasTable) return 0;
  const row = db.prepare<[], { v: number | null }>('SELECT MAX(version) AS v FROM schema_version').get();
  return row?.v ?? 0;
}

export function openDatabase(path: string, opts: OpenDatabaseOptions = {}): Database {
  const db = new BetterSqlite3(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
  db.pragma('foreign_keys = ON');
  if (opts.readonly) return db;
  // WAL: readers never block the writer and a commit is one append to the WAL (":memory:" stays "memory").
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
  // Keep temp b-trees in memory and give the page cache some room (-N means N KiB).
  db.pragma('temp_store = MEMORY');
  db.pragma('cache_size = -65536');
  runMigrations(db, listMigrations(opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR));
  return db;
}

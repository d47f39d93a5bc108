/**
 * The layout guard: src/ is divided into rooms, and run-time imports between rooms follow the
 * table in docs/architecture.md ("Rooms"), which this test reads — the table and the code
 * cannot drift apart. Type-only imports are contracts and may cross rooms (they vanish at run
 * time). A guard, not a style police: it fails only on an import that crosses a rule, a room
 * the table does not describe, a stray file at the top of src/, or a file too long to read.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY_POINTS = ['cli.ts', 'index.ts'];
/** Lines above which a source file stops being one concept a reader can hold (STYLE.md). */
const MAX_LINES = 400;

interface Room {
  readonly name: string;
  readonly mayImport: ReadonlySet<string>;
}

/** The "Rooms" table: | `src/engine/` | owns … | `ingress`, `broker`, … | (— for nothing). */
function readRooms(): Map<string, Room> {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### Rooms'), doc.indexOf('### Files'));
  const rooms = new Map<string, Room>();
  for (const line of section.split('\n')) {
    const m = /^\| `(?:src\/)?([a-z-]+)\/` \| [^|]+ \| ([^|]+) \|$/.exec(line);
    if (m === null) continue;
    const allowed = [...m[2]!.matchAll(/`([a-z-]+)`/g)].map((a) => a[1]!);
    rooms.set(m[1]!, { name: m[1]!, mayImport: new Set(allowed) });
  }
  return rooms;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** The room of a repository path: src/<room>/…, workers/…, or 'entry' for src/*.ts. */
function roomOf(path: string): string {
  const parts = path.split('/');
  if (parts[0] === 'workers') return 'workers';
  return parts.length > 2 ? parts[1]! : 'entry';
}

interface Import {
  readonly from: string;
  readonly to: string;
  readonly typeOnly: boolean;
}

/** Relative imports and re-exports of a file (`import … from`, `export … from`, `import '…'`). */
function importsOf(path: string): Import[] {
  const text = readFileSync(join(ROOT, path), 'utf8');
  const out: Import[] = [];
  const re = /^(?:import|export)\s+(type\s+)?(?:([^;]*?)\s+from\s+)?'(\.[^']+)'/gms;
  for (const m of text.matchAll(re)) {
    const names = m[2]?.trim() ?? '';
    const list = names.startsWith('{') ? names.slice(1, -1).split(',').map((n) => n.trim()).filter((n) => n !== '') : null;
    const typeOnly = m[1] !== undefined || (list !== null && list.length > 0 && list.every((n) => n.startsWith('type ')));
    out.push({ from: path, to: normalize(join(dirname(path), m[3]!)).replace(/\.js$/, '.ts'), typeOnly });
  }
  return out;
}

const rooms = readRooms();
const files = [...sourceFiles('src'), ...sourceFiles('workers')];

test('the Rooms table describes every folder of src/ (and workers/)', () => {
  const folders = new Set(files.map(roomOf).filter((r) => r !== 'entry'));
  assert.ok(rooms.size >= 10, `the table was read (${rooms.size} rooms)`);
  assert.deepEqual([...folders].filter((f) => !rooms.has(f)), [], 'folders without a row in docs/architecture.md');
  assert.deepEqual([...rooms.keys()].filter((r) => !folders.has(r)), [], 'rows without a folder');
  for (const room of rooms.values()) {
    for (const other of room.mayImport) assert.ok(rooms.has(other), `${room.name} may import "${other}", which is no room`);
  }
});

test('the top of src/ holds only the entry points', () => {
  assert.deepEqual(files.filter((f) => roomOf(f) === 'entry').map((f) => relative('src', f)).sort(), ENTRY_POINTS);
});

test('run-time imports between rooms follow the table', () => {
  const crossings = files
    .flatMap(importsOf)
    .filter((i) => !i.typeOnly)
    .filter((i) => {
      const from = roomOf(i.from);
      const to = roomOf(i.to);
      if (from === to || from === 'entry') return false;
      return !(rooms.get(from)?.mayImport.has(to) ?? false);
    })
    .map((i) => `${i.from} → ${i.to}`);
  assert.deepEqual(crossings, [], 'imports that cross the rules of docs/architecture.md ("Rooms")');
});

test('the guard sees imports, type-only ones included', () => {
  // what the guard above relies on: it parses this repository's import forms
  const shard = importsOf('src/shard/context.ts');
  assert.ok(shard.some((i) => i.to === 'src/transport/ring.ts' && !i.typeOnly));
  assert.ok(shard.some((i) => i.to === 'src/engine/config.ts' && i.typeOnly));
  assert.ok(importsOf('src/index.ts').some((i) => i.to === 'src/engine/engine.ts'), 'export … from is an import');
});

/** Non-relative run-time imports (`node:…`, packages) of a file. */
function bareImportsOf(path: string): string[] {
  const text = readFileSync(join(ROOT, path), 'utf8');
  const re = /^(?:import|export)\s+(?!type\s)(?:[^;]*?\s+from\s+)?'([^.'][^']*)'/gms;
  return [...text.matchAll(re)].map((m) => m[1]!);
}

test('the client library runs in a browser: what it imports at run time, transitively, imports only relative files', () => {
  const seen = new Set<string>();
  const queue = files.filter((f) => roomOf(f) === 'client');
  assert.ok(queue.includes('src/client/index.ts'));
  while (queue.length > 0) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    queue.push(...importsOf(f).filter((i) => !i.typeOnly).map((i) => i.to));
  }
  const bare = [...seen].flatMap((f) => bareImportsOf(f).map((b) => `${f} → ${b}`));
  assert.deepEqual(bare, [], 'Node built-ins or packages reachable from src/client/');
  assert.ok(seen.has('src/protocol/codes.ts'), 'the guard follows imports into other rooms');
  assert.deepEqual(bareImportsOf('src/protocol/messages.ts'), [], 'relative imports are not counted as bare');
  assert.ok(bareImportsOf('src/engine/config.ts').includes('node:os'), 'the guard sees node: imports');
});

test(`no source file is longer than ${MAX_LINES} lines`, () => {
  const long = files.map((f) => [f, readFileSync(join(ROOT, f), 'utf8').split('\n').length] as const).filter(([, n]) => n > MAX_LINES);
  assert.deepEqual(long, []);
});

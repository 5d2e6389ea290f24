// No two folders under src/ import each other, directly or through a loop of folders: each
// folder is a unit a reader (and Rollup) can take in dependency order. Imports are read from the
// source text (static `import ... from`, `export ... from`, `import("...")`), relative ones only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../src", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Relative module specifiers a file imports (comments stripped first). */
function importsOf(code: string): string[] {
  const text = code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'\\])\/\/.*$/gm, "$1");
  const found: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec.startsWith(".")) found.push(spec);
  }
  return found;
}

/** Folder → folders it imports from (relative to src/). */
function folderGraph(files: Array<{ path: string; code: string }>, root: string): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const { path, code } of files) {
    const from = relative(root, dirname(path));
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const spec of importsOf(code)) {
      const to = relative(root, dirname(resolve(dirname(path), spec)));
      if (to !== from && !to.startsWith("..")) edges.add(to);
    }
  }
  return graph;
}

/** Every group of folders that reach each other (Tarjan's strongly connected components, size > 1). */
function folderLoops(graph: Map<string, Set<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const loops: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) loops.push(group.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return loops;
}

function describeLoop(graph: Map<string, Set<string>>, group: string[]): string {
  const members = new Set(group);
  return group.map((f) => `${f} -> ${[...(graph.get(f) ?? [])].filter((t) => members.has(t)).sort().join(", ")}`).join("; ");
}

test("the checker finds a direct pair and a three-folder loop, and passes a chain", () => {
  const root = "/p/src";
  const files = [
    { path: "/p/src/a/x.ts", code: 'import { y } from "../b/y";\n' },
    { path: "/p/src/b/y.ts", code: 'export { x } from "../a/x";\n' },
    { path: "/p/src/c/z.ts", code: 'import type { T } from "../d/t";\n// import { no } from "../a/x";\n' },
    { path: "/p/src/d/t.ts", code: 'const m = await import("../e/u");\n' },
    { path: "/p/src/e/u.ts", code: 'import "../c/z";\nimport fs from "node:fs";\n' },
    { path: "/p/src/f/v.ts", code: 'import { x } from "../a/x";\nimport { w } from "./w";\n' },
  ];
  const graph = folderGraph(files, root);
  assert.deepEqual(folderLoops(graph), [["a", "b"], ["c", "d", "e"]]);
  assert.deepEqual(folderLoops(folderGraph([files[0], files[5]], root)), []);
});

test("no two folders under src/ import each other, directly or in a loop", () => {
  const files = sourceFiles(SRC).map((path) => ({ path, code: readFileSync(path, "utf8") }));
  assert.ok(files.length > 50, "src/ was read");
  const graph = folderGraph(files, SRC);
  const loops = folderLoops(graph);
  assert.deepEqual(loops.map((g) => describeLoop(graph, g)), []);
});

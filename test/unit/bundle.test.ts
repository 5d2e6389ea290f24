// The real build: every board file becomes three minified bundles through rollup.config.js (the
// same TypeScript ES5 + terser + gate pipeline as `npm run build`), with that board compiled in:
// the resident agent (<board>.js), the job it loads from Storage (<board>.job.js) and the flash
// formats the job loads only at its start and at a switch (<board>.fmt.js).
// Optionally (ESPRUINO_BIN=path to a Linux Espruino build) the host-sim bundle is run on the real
// interpreter, to prove it parses and starts.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { rollup, type RollupOptions, type OutputOptions } from "rollup";
import { assertBundle, espruinoGlobals } from "../../src/host/gate/check-bundle";
import { FORMATS_FILE, JOB_FILE } from "../../src/core/provision";
import { APP_FILE } from "../../src/core/agent/app-files";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BOARDS_DIR = join(ROOT, "boards");

/** Board names from the board files themselves, independently of the build config. */
const boardNames: string[] = readdirSync(BOARDS_DIR)
  .filter((f) => f.endsWith(".json") && f !== "board.schema.json")
  .sort()
  .map((f) => (JSON.parse(readFileSync(join(BOARDS_DIR, f), "utf8")) as { name: string }).name);

interface Build {
  code: string | null;
  /** The build's failure (a gate rejection names every issue), when it failed. */
  error: string | null;
}

const builds = new Map<string, Build>();
const jobs = new Map<string, Build>();
const fmts = new Map<string, Build>();

/** Where the board name is its own token: `esp32-4mb-ab` must not count as a use of `esp32`. */
function mentions(code: string, name: string): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^\\w-])${escaped}($|[^\\w-])`).test(code);
}

function requiredModules(code: string): string[] {
  const found = new Set<string>();
  for (const match of code.matchAll(/\brequire\s*\(\s*(["'])((?:(?!\1).)*)\1\s*\)/g)) found.add(match[2]);
  return [...found].sort();
}

before(async () => {
  // The config builds every board unless BOARD narrows it, and it resolves paths from the cwd.
  delete process.env.BOARD;
  process.chdir(ROOT);
  const { default: configs } = (await import("../../rollup.config.js")) as { default: RollupOptions[] };
  for (const config of configs) {
    const output = config.output as OutputOptions;
    const file = String(output.file).replace(/^dist\//, "").replace(/\.js$/, "");
    const part = /\.(job|fmt)$/.exec(file)?.[1];
    const name = file.replace(/\.(job|fmt)$/, "");
    const into = part === "job" ? jobs : part === "fmt" ? fmts : builds;
    try {
      const bundle = await rollup(config);
      try {
        const { output: chunks } = await bundle.generate(output);
        const entries = chunks.filter((c) => c.type === "chunk");
        assert.equal(entries.length, 1, `${name}: expected one chunk, got ${entries.map((c) => c.fileName).join(", ")}`);
        into.set(name, { code: entries[0].code, error: null });
      } finally {
        await bundle.close();
      }
    } catch (e) {
      into.set(name, { code: null, error: e instanceof Error ? e.message : String(e) });
    }
  }
});

function builtJob(name: string): string {
  return built(name, jobs);
}

function builtFmt(name: string): string {
  return built(name, fmts);
}

function built(name: string, from = builds): string {
  const build = from.get(name);
  assert.ok(build, `no bundle for board ${name}; built: ${[...builds.keys()].join(", ")}`);
  if (build.error !== null) assert.fail(`build of ${name} failed:\n${build.error}`);
  return build.code as string;
}

describe("bundle: one gated bundle per board file", () => {
  it("builds exactly the boards in boards/*.json", () => {
    assert.ok(boardNames.length > 0, "no board files found");
    assert.deepEqual([...builds.keys()].sort(), boardNames);
  });

  it("builds a job bundle for every board", () => {
    assert.deepEqual([...jobs.keys()].sort(), boardNames);
  });

  it("builds a formats bundle for every board", () => {
    assert.deepEqual([...fmts.keys()].sort(), boardNames);
  });

  for (const name of boardNames) {
    it(`${name}: builds, passes the Espruino gate and reports its size`, (t) => {
      const code = built(name);
      const job = builtJob(name);
      assert.doesNotThrow(() => assertBundle(code, `${name}.js`));
      assert.doesNotThrow(() => assertBundle(job, `${name}.job.js`, { module: true }));
      // the job is a Storage module: the gate refuses it as a plain script (module is no global)
      assert.throws(() => assertBundle(job, `${name}.job.js`), /"module" is not available/);
      t.diagnostic(`${name}.js: ${Buffer.byteLength(code, "utf8")} bytes minified; ${name}.job.js: ${Buffer.byteLength(job, "utf8")}`);
    });

    it(`${name}: the job bundle is a Storage module whose exports is a function, and defines no global`, () => {
      const m = { exports: {} as unknown };
      const before = Object.keys(globalThis).length;
      new Function("module", "exports", builtJob(name))(m, m.exports);
      assert.equal(typeof m.exports, "function");
      assert.equal(Object.keys(globalThis).length, before);
      // the resident loads it by the name the installer gives it
      assert.ok(built(name).includes('require("' + JOB_FILE + '")'), "the resident requires " + JOB_FILE);
      assert.ok(built(name).includes('Modules.removeCached("' + JOB_FILE + '")'), "and drops it from require()'s cache");
      // boards with the application kind run the one app file there is when the agent cannot start
      if ((JSON.parse(readFileSync(join(BOARDS_DIR, name + ".json"), "utf8")) as { app?: unknown }).app) for (const n of [0, 1]) assert.ok(built(name).includes('"' + APP_FILE + n + '"'), "the resident's fallback names " + APP_FILE + n);
    });

    it(`${name}: the formats bundle is a gated Storage module of the functions only a job's start, a switch and an application's files need, which the job loads and drops again`, () => {
      const fmt = builtFmt(name);
      assert.doesNotThrow(() => assertBundle(fmt, `${name}.fmt.js`, { module: true }));
      const m = { exports: {} as Record<string, unknown> };
      const before = Object.keys(globalThis).length;
      new Function("module", "exports", fmt)(m, m.exports);
      assert.deepEqual(Object.keys(m.exports).sort(), ["appHeader", "appInfo", "applyOtadata", "failuresOf", "loadOtaState", "readLayout", "sameUpdate", "signCheck"]);
      for (const k of Object.keys(m.exports)) assert.equal(typeof m.exports[k], "function", k);
      assert.equal(Object.keys(globalThis).length, before);
      assert.ok(builtJob(name).includes('require("' + FORMATS_FILE + '")'), "the job requires " + FORMATS_FILE);
      assert.ok(builtJob(name).includes('Modules.removeCached("' + FORMATS_FILE + '")'), "and drops it from require()'s cache");
      assert.ok(!built(name).includes(FORMATS_FILE), "the resident never loads it");
      // the partition table's parser lives here and not in the job
      assert.ok(fmt.includes("PT_MAGIC") && !builtJob(name).includes("PT_MAGIC"), "the partition table's parser is in the formats bundle only");
    });

    it(`${name}: carries its own board's settings and none of what the device never reads`, () => {
      const code = builtJob(name);
      const board = JSON.parse(readFileSync(join(BOARDS_DIR, name + ".json"), "utf8")) as { description: string; journal: { offset: string }; download: { spanBytes: number } };
      // the journal offset and span size as terser prints numbers (decimal, or hex when shorter)
      const seen = (n: number) => new RegExp("[^0-9A-Za-z_.]" + n + "[^0-9]").test(code) || new RegExp("0x" + n.toString(16) + "\\b", "i").test(code);
      assert.ok(seen(Number(board.journal.offset)), `journal offset ${board.journal.offset} not in ${name}'s job`);
      assert.ok(seen(board.download.spanBytes), `span ${board.download.spanBytes} not in ${name}'s job`);
      // host-only fields cost JsVars in the job's board object for nothing
      for (const text of [board.description.slice(0, 24), "$schema", "csv:"]) assert.ok(!code.includes(text), `${name}'s job carries ${text}`);
      const others = boardNames.filter((other) => other !== name && (mentions(code, other) || mentions(built(name), other)));
      assert.deepEqual(others, [], `${name}'s bundles name other boards`);
    });

    it(`${name}: carries only the features its board file uses (build flags)`, () => {
      const board = JSON.parse(readFileSync(join(BOARDS_DIR, name + ".json"), "utf8")) as { md5: string; image: { verifySha256: boolean } };
      const job = builtJob(name);
      assert.equal(job.includes("nativeCall"), board.md5 === "rom", "the ROM MD5 backend is in the job exactly when md5 is \"rom\"");
      assert.equal(job.includes("image check: "), board.image.verifySha256, "the image SHA-256 check is in the job exactly when image.verifySha256");
      assert.ok(!built(name).includes("nativeCall") && !built(name).includes("image check: "), "the resident part has neither");
    });

    it(`${name}: requires only modules Espruino has`, () => {
      const allowed = espruinoGlobals.globals.require?.modules ?? [];
      const modules = requiredModules(built(name) + builtJob(name) + builtFmt(name));
      assert.deepEqual(modules.filter((m) => !allowed.includes(m)), [], `allowed: ${allowed.join(", ")}`);
    });
  }
});

const ESPRUINO_BIN = process.env.ESPRUINO_BIN;

function executable(path: string | undefined): path is string {
  if (!path) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

interface Run {
  output: string;
  /** Why the run ended: "exit <code>", "signal <name>", or "stopped" once the agent had logged. */
  ended: string;
}

/**
 * Runs `file` on the interpreter until it has logged a first full "ota:" line and half a second
 * more, until it exits (the Linux build stops at the first raw flash read outside its own small
 * flash), or for at most 10 s. Only this process's own child is ever killed.
 */
function runOnEspruino(bin: string, file: string, cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [file], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let finished = false;
    let grace: NodeJS.Timeout | null = null;
    const finish = (ended: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(limit);
      if (grace) clearTimeout(grace);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      resolve({ output, ended });
    };
    const limit = setTimeout(() => finish("stopped after 10 s"), 10_000);
    const collect = (chunk: Buffer): void => {
      output += chunk.toString("latin1");
      if (!grace && /(^|\n)ota:[^\n]*\n/.test(output)) grace = setTimeout(() => finish("stopped"), 500);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("error", (e) => {
      if (!finished) {
        finished = true;
        clearTimeout(limit);
        reject(e);
      }
    });
    child.on("close", (code, signal) => finish(signal ? `signal ${signal}` : `exit ${code}`));
  });
}

describe("bundle: host-sim on the real Espruino interpreter", () => {
  it("parses and starts (ESPRUINO_BIN)", async (t) => {
    if (!executable(ESPRUINO_BIN)) {
      t.skip("set ESPRUINO_BIN to an Espruino Linux build to run the host-sim bundle on it");
      return;
    }
    const code = built("host-sim");
    const dir = mkdtempSync(join(tmpdir(), "espruino-bundle-"));
    try {
      writeFileSync(join(dir, "host-sim.js"), code);
      const run = await runOnEspruino(ESPRUINO_BIN, join(dir, "host-sim.js"), dir);
      const lines = run.output.split(/\r?\n/);
      const firstOta = lines.findIndex((line) => line.startsWith("ota:"));
      const excerpt = run.output.slice(0, 2000);
      assert.ok(firstOta >= 0, `no "ota:" log line (${run.ended}); output began:\n${excerpt}`);
      // Everything up to the agent's first log line is the load of the whole bundle: a parse error
      // or a binding used before it exists would show here. After it, the Linux build's dump of
      // its memory on a flash assertion may quote source text, so it is not searched.
      const beforeStart = lines.slice(0, firstOta).join("\n");
      assert.doesNotMatch(beforeStart, /SyntaxError|ReferenceError|Uncaught|ASSERT/, excerpt);
      t.diagnostic(`first log line: ${lines[firstOta]} (${run.ended})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

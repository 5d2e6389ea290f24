// One minified bundle per board file: dist/<board>.js, with that board's configuration
// compiled in, ready to upload into Storage as .bootcde. Run through `npm run build`
// (node --import tsx), so this config can use the project's TypeScript host modules.
//
// Espruino specifics (docs/espruino-runtime.md#language, #no-hoisting): ES5 output only;
// terser with default compress off (its inlining creates use-before-declaration) but
// hoist_funs on (Espruino does not hoist); no mangled names that Espruino reserves;
// the "ram" directive kept in hot functions. Every bundle then has to pass the gate.
import { writeFileSync } from "node:fs";
import typescript from "@rollup/plugin-typescript";
import terser from "@rollup/plugin-terser";
import { boardFiles, loadBoard } from "./src/host/boards/load-board.ts";
import { assertBundle } from "./src/host/gate/check-bundle.ts";
import { espruinoPostPassPlugin } from "./src/host/build/espruino-postpass.ts";

const only = process.env.BOARD; // build a single board: BOARD=host-sim npm run build

/**
 * Resolves `import board from "board-config"` to the board's normalised JSON, without its
 * "provision" (the simulation's identity: a bundle never carries a device's identity or secret)
 * and without what the device never reads (the partition list).
 */
function boardConfig(board) {
  const id = "\0board-config";
  // What no device code reads: each field left in the job's board object costs JsVars on the board.
  const { provision, $schema, name, description, ...onDevice } = board;
  // The agent reads the real partition table from flash; the board's copy is for the host tools.
  onDevice.partitionTable = { offset: board.partitionTable.offset };
  // The default export is the object the job passes around; the resident imports mqtt by name
  // and md5 is a build flag, so the object leaves them out.
  const inObject = Object.keys(onDevice).filter((k) => k !== "mqtt" && k !== "md5");
  // Nor the fields the device reads as named exports or build flags instead (flash_base,
  // trial_maxHoldMs, __IMAGE_SHA256__): two JsVars or so each, in the job's memory at its peak.
  const object = Object.fromEntries(inObject.map((k) => [k, onDevice[k]]));
  object.flash = { size: board.flash.size };
  object.trial = { ...board.trial };
  delete object.trial.maxHoldMs;
  object.image = { projectName: board.image.projectName };
  return {
    name: "board-config",
    resolveId: (source) => (source === "board-config" ? id : null),
    // Named exports per field as well: tree-shaking drops what a bundle does not import.
    load: (source) =>
      source === id
        ? Object.keys(onDevice).map((k) => `export var ${k} = ${JSON.stringify(onDevice[k])};`).join("\n") +
          // and each field of a nested object as <field>_<key>, so that a bundle that reads one
          // number of an object holds that number, not the object (trial_maxHoldMs)
          Object.keys(onDevice)
            .filter((k) => onDevice[k] && typeof onDevice[k] === "object" && !Array.isArray(onDevice[k]))
            .flatMap((k) => Object.keys(onDevice[k]).map((j) => `\nexport var ${k}_${j} = ${JSON.stringify(onDevice[k][j])};`))
            .join("") +
          // The default object written out whole, not built from the named exports: those would
          // each stay a name in the job's module scope (a JsVar apiece on the board).
          `\nexport default ${JSON.stringify(object)};`
        : null,
  };
}

/**
 * Board features decided at build time: each __NAME__ in device source becomes the literal
 * true or false for this board, so rollup drops the branch and the modules only it uses.
 */
function buildFlags(board) {
  const flags = { __IMAGE_SHA256__: board.image.verifySha256, __MD5_ROM__: board.md5 === "rom", __APP__: !!board.app };
  return {
    name: "build-flags",
    transform(code, id) {
      if (!/[\\/]src[\\/](core|espruino)[\\/].*\.ts$/.test(id)) return null;
      const out = code.replace(/\b__[A-Z0-9_]+__\b/g, (name) => {
        if (!(name in flags)) this.error(`${id}: unknown build flag ${name} (known: ${Object.keys(flags).join(", ")})`);
        return String(flags[name]);
      });
      return out === code ? null : { code: out, map: null };
    },
  };
}

/** Fails the build unless the final bundle passes the Espruino gate. */
function espruinoGate(options) {
  return {
    name: "espruino-gate",
    generateBundle(_options, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== "chunk") continue;
        try {
          assertBundle(chunk.code, chunk.fileName, options);
        } catch (e) {
          this.error(e.message);
        }
      }
    },
  };
}

const terserOptions = {
  ecma: 5,
  compress: {
    defaults: false,
    hoist_funs: true,
    dead_code: true,
    conditionals: true,
    booleans: true,
    comparisons: true,
    evaluate: true,
    // unused would drop a repeated `var` and leave a bare assignment, which makes a global on Espruino
    unused: false,
    side_effects: true,
    join_vars: true,
    directives: false,
  },
  mangle: { reserved: ["of", "let", "static", "super", "extends", "class", "const", "undefined", "yield", "await", "async"] },
  format: { ascii_only: true, comments: false },
};

const boards = boardFiles()
  .map((file) => loadBoard(file)) // throws BoardError naming the file and field
  .filter((b) => !only || b.name === only);
if (only && boards.length === 0) throw new Error(`BOARD=${only}: no boards/${only}.json`);

/**
 * The Rollup options that build one of `board`'s three bundles (also used by
 * src/host/build/bundle.ts): "boot", the resident agent (dist/<board>.js, Storage .boot0),
 * "job", what it loads when there is work (dist/<board>.job.js, Storage ota.job), or "fmt",
 * the flash formats the job loads only at its start and at a switch (dist/<board>.fmt.js,
 * Storage ota.fmt).
 */
export function bundleConfig(board, part = "boot") {
  // the job and the formats are Storage modules; only the resident is a script
  const job = part !== "boot";
  return {
  input: part === "fmt" ? "src/espruino/formats.ts" : job ? "src/espruino/job.ts" : "src/espruino/boot.ts",
  output: {
    file: job ? `dist/${board.name}.${part}.js` : `dist/${board.name}.js`,
    // The application shares Espruino's global scope, so the agent defines no global name: the
    // resident is one function scope, and the job a Storage module whose exports is the job
    // function. require() gives a module one scope of its own, so each of the job's functions
    // carries a one-level scope chain; evaluated inside the resident it carried three or more,
    // a JsVar per level and function on the board.
    format: job ? "cjs" : "iife",
    exports: job ? "default" : "auto",
    generatedCode: "es5",
    strict: false,
    freeze: false,
    esModule: false,
  },
  treeshake: { moduleSideEffects: false },
  plugins: [
    boardConfig(board),
    buildFlags(board),
    typescript({ tsconfig: "./tsconfig.json", noEmit: false, include: ["src/core/**/*.ts", "src/espruino/**/*.ts"] }),
    terser(job ? { ...terserOptions, mangle: { ...terserOptions.mangle, toplevel: true } } : terserOptions),
    espruinoPostPassPlugin(),
    espruinoGate({ module: job }),
  ],
  onwarn(warning, warn) {
    // a circular import can reorder declarations, which Espruino (no hoisting) cannot survive
    if (warning.code === "CIRCULAR_DEPENDENCY") throw new Error(warning.message);
    warn(warning);
  },
  };
}

export default boards.flatMap((b) => [bundleConfig(b, "boot"), bundleConfig(b, "job"), bundleConfig(b, "fmt")]);

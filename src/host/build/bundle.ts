// Builds a board's three bundles in memory for any board object, through exactly the plugin
// chain of rollup.config.js (TypeScript ES5, terser for Espruino, the gate). Tests use it for
// board variants (e.g. a rollback bootloader) that have no file in boards/.
import { rollup } from "rollup";
import type { BoardConfig } from "../../core/board";
import { validateBoard } from "../boards/load-board";
import type { AgentCode } from "./install";
// @ts-expect-error rollup.config.js is plain JavaScript without type declarations
import { bundleConfig } from "../../../rollup.config.js";

const cache = new Map<string, Promise<AgentCode>>();

export function buildBundle(board: BoardConfig): Promise<AgentCode> {
  const key = JSON.stringify(board);
  let p = cache.get(key);
  if (!p) {
    p = Promise.all([build(board, "boot"), build(board, "job"), build(board, "fmt")]).then(([boot, job, fmt]) => ({ boot, job, fmt }));
    cache.set(key, p);
  }
  return p;
}

async function build(board: BoardConfig, part: "boot" | "job" | "fmt"): Promise<string> {
  validateBoard(board, `boards/${board.name}.json`);
  const config = bundleConfig(board, part);
  const bundle = await rollup({ ...config, output: undefined });
  try {
    const { output } = await bundle.generate(config.output);
    return output[0].code;
  } finally {
    await bundle.close();
  }
}

// Builds a bundle in memory for any board object, through exactly the plugin chain
// of rollup.config.js (TypeScript ES5, terser for Espruino, the gate). Tests use it for
// board variants (e.g. a rollback bootloader) that have no file in boards/.
import { rollup } from "rollup";
import type { BoardConfig } from "../../core/board";
import { validateBoard } from "../boards/load-board";
// @ts-expect-error rollup.config.js is plain JavaScript without type declarations
import { bundleConfig } from "../../../rollup.config.js";

const cache = new Map<string, Promise<string>>();

export function buildBundle(board: BoardConfig): Promise<string> {
  const key = JSON.stringify(board);
  let p = cache.get(key);
  if (!p) {
    p = build(board);
    cache.set(key, p);
  }
  return p;
}

async function build(board: BoardConfig): Promise<string> {
  validateBoard(board, `boards/${board.name}.json`);
  const config = bundleConfig(board);
  const bundle = await rollup({ ...config, output: undefined });
  try {
    const { output } = await bundle.generate(config.output);
    return output[0].code;
  } finally {
    await bundle.close();
  }
}

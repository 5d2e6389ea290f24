// Figure 5a: the minified bundle per board, as `npm run build` leaves it in dist/.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { BOARDS_DIR, boardFiles, loadBoard } from "../boards/load-board";

export interface BundleSize {
  board: string;
  bytes: number;
}

export const DIST_DIR = join(BOARDS_DIR, "..", "dist");

/** Size of dist/<board>.js for every board file; throws naming the missing bundles. */
export function bundleSizes(dist = DIST_DIR): BundleSize[] {
  const names = boardFiles().map((f) => loadBoard(f).name);
  const missing = names.filter((n) => !existsSync(join(dist, n + ".js")));
  if (missing.length) throw new Error("no bundle in " + dist + " for " + missing.join(", ") + ": run `npm run build` first");
  const present = new Set(readdirSync(dist));
  return names.filter((n) => present.has(n + ".js")).map((board) => ({ board, bytes: statSync(join(dist, board + ".js")).size }));
}

// Loads the Espruino allow-list (espruino-globals.json) once, checks its shape and
// exposes it to the gate and to the host runtime, so both judge globals from the same data.
import { readFileSync } from "node:fs";

export interface EspruinoGlobal {
  /** Static members that exist (X.member). Absent: X has no usable static members. */
  members?: string[];
  /** Members reachable as X.prototype.member. Absent: X.prototype itself is forbidden. */
  prototype?: string[];
  /** Module names require() may load (only on "require"). */
  modules?: string[];
  /** Where this entry was confirmed (a docs/ page section, a file of Espruino's public repository, or a run). */
  confirmed: string;
}

export interface EspruinoGlobals {
  globals: Record<string, EspruinoGlobal>;
}

const ALLOW_LIST_URL = new URL("./espruino-globals.json", import.meta.url);

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

/** Throws a message naming the first malformed entry: a broken allow-list must never pass silently. */
export function parseEspruinoGlobals(text: string, source: string): EspruinoGlobals {
  const data = JSON.parse(text) as unknown;
  const globals = (data as { globals?: unknown } | null)?.globals;
  if (typeof globals !== "object" || globals === null || Array.isArray(globals)) {
    throw new Error(`${source}: expected an object "globals"`);
  }
  for (const [name, entry] of Object.entries(globals as Record<string, unknown>)) {
    const e = entry as Record<string, unknown> | null;
    if (typeof e !== "object" || e === null) throw new Error(`${source}: global "${name}" must be an object`);
    if (typeof e.confirmed !== "string" || e.confirmed.trim() === "") {
      throw new Error(`${source}: global "${name}" must say where it was confirmed`);
    }
    for (const key of ["members", "prototype", "modules"] as const) {
      if (e[key] !== undefined && !isStringArray(e[key])) {
        throw new Error(`${source}: global "${name}".${key} must be an array of strings`);
      }
    }
  }
  return data as EspruinoGlobals;
}

export const espruinoGlobals: EspruinoGlobals = parseEspruinoGlobals(
  readFileSync(ALLOW_LIST_URL, "utf8"),
  "src/host/gate/espruino-globals.json",
);

// Espruino limits the HTTP client code must respect that Node cannot show at run time.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../../src/core/http", import.meta.url));
const files = fs.readdirSync(dir).filter((f) => f.endsWith(".ts"));

test("no method calls on `this` in src/core/http (Espruino lock saturation)", () => {
  // Espruino 2v29 keeps `this` locked for every active method frame; at 15 locks the count
  // saturates and the object is never freed. Six nested this.method() calls leaked the whole
  // request (about 190 blocks) on every span in a measurement on the Linux build, so the
  // per-request state is a plain record handed to plain functions.
  assert.ok(files.length >= 3);
  for (const f of files) {
    const code = fs.readFileSync(path.join(dir, f), "utf8").replace(/\/\/.*$/gm, "");
    const calls = code.match(/\bthis\.[A-Za-z_$][\w$]*\s*\(/g) ?? [];
    assert.deepEqual(calls, [], f);
  }
});

test("no platform globals in src/core/http", () => {
  for (const f of files) {
    const code = fs.readFileSync(path.join(dir, f), "utf8").replace(/\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, "");
    for (const banned of [/\brequire\(/, /\bE\./, /\bESP32\b/, /\bprocess\./, /\bBuffer\b/, /\bsetTimeout\b/, /\bconsole\./]) {
      assert.doesNotMatch(code, banned, f);
    }
  }
});

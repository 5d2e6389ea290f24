// The signature-cost and ROM-MD5-cost figures (src/host/bench/sign-cost.ts, md5-rom-cost.ts):
// parsing their harnesses' lines and judging them. The harnesses need Espruino's interpreter (npm run bench -- --only sign).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "acorn";
import { join } from "node:path";
import { loadBoard, BOARDS_DIR } from "../../src/host/boards/load-board";
import { parseRomCostLine, romCostFigures, symbolOffset, type RomCost } from "../../src/host/bench/md5-rom-cost";
import { buildSignHarness, parseSignLine, signFigures, SIGN_JSVARS_TARGET, type SignCost } from "../../src/host/bench/sign-cost";

const line = (o: object) => '>garbage@@SIGN ' + JSON.stringify(o);
const good: SignCost = { ok: true, rejects: true, before: 1200, peak: 1290, after: 1200, samples: [1240, 1280, 1290, 1270, 1285], ms: 4.2, checks: 240, version: "2v29" };

test("the harness line parses; other lines are not results; an error line throws", () => {
  assert.deepEqual(parseSignLine(line(good)), good);
  assert.equal(parseSignLine("@@MD5 {}"), null);
  assert.throws(() => parseSignLine(line({ error: "no crypto.SHA256" })), /no crypto.SHA256/);
  assert.throws(() => parseSignLine(line({ ok: true, rejects: true, before: 1 })), /no peak/);
});

test("JsVars are the highest sample above the level before; judged against the target", () => {
  const [mem, ms] = signFigures(good);
  assert.equal(mem.key, "sign.verifyJsVars");
  assert.equal(mem.value, 90);
  assert.equal(mem.verdict, "pass");
  assert.match(mem.note!, /nothing left behind/);
  assert.equal(ms.key, "sign.verifyMs");
  assert.equal(ms.value, 4.2);
  assert.equal(ms.verdict, "info");
  // the desktop figure is never passed off as a board's: the note scales it out loud
  assert.match(ms.note!, /25-50x slower/);
  assert.match(ms.note!, /105-210 ms/);
  const big = signFigures({ ...good, peak: good.before + SIGN_JSVARS_TARGET + 1, after: good.before + 3 });
  assert.equal(big[0].verdict, "FAIL");
  assert.match(big[0].note!, /3 JsVars left behind/);
});

test("a check that accepts everything or nothing gives no figures", () => {
  for (const r of [{ ...good, ok: false }, { ...good, rejects: false }]) {
    const f = signFigures(r);
    assert.deepEqual(f.map((x) => x.verdict), ["FAIL", "FAIL"]);
    assert.deepEqual(f.map((x) => x.value), [null, null]);
  }
  const e = signFigures(new Error("interpreter crashed\nstack"));
  assert.deepEqual(e.map((x) => x.verdict), ["error", "error"]);
  assert.equal(e[0].note, "interpreter crashed");
});

test("the harness is ES5 and carries the agent's check, a signed trailer and the JS MD5 state", async () => {
  const code = await buildSignHarness(loadBoard(join(BOARDS_DIR, "espruino-linux.json")), 0.1, 1000);
  assert.doesNotThrow(() => parse(code, { ecmaVersion: 5 }));
  assert.match(code, /@@SIGN /);
  assert.match(code, /signature check failed: /);
  assert.match(code, /process\.memory\(\)\.usage/);
  // 1000-byte image + 80-byte trailer
  assert.match(code, /1080/);
});

// ---- issue #12 item 4: the ROM path's per-4 KB cost (src/host/bench/md5-rom-cost.ts) ----

test("the stand-in's offset comes from nm's text symbols only", () => {
  const nm = "000b9210 B jsVars\n0004f253 T mbedtls_md5_process\n0004f254 t mbedtls_md5_process_x\n         U memcpy\n";
  assert.equal(symbolOffset(nm, "mbedtls_md5_process"), 0x4f253);
  assert.equal(symbolOffset(nm, "jsVars"), null);
  assert.equal(symbolOffset(nm, "memcpy"), null);
});

test("ROM cost: the line parses, and the JS side is update() less the stand-in's own time", () => {
  const r: RomCost = { romFlatUs: 90, romStagedUs: 370, standInUs: 20, callUs: 11, jsUs: 33000, version: "2v29" };
  assert.deepEqual(parseRomCostLine("x@@ROMCOST " + JSON.stringify(r)), r);
  assert.equal(parseRomCostLine("@@SIGN {}"), null);
  assert.throws(() => parseRomCostLine('@@ROMCOST {"error":"the ROM backend did not start: md5: ROM self-test failed"}'), /self-test failed/);
  assert.throws(() => parseRomCostLine('@@ROMCOST {"romFlatUs":1}'), /no romStagedUs/);
  const [js, rom] = romCostFigures(r);
  assert.equal(js.key, "md5.jsPer4kMs");
  assert.equal(js.value, 33);
  assert.match(js.note!, /825-1650 ms/);
  assert.equal(rom.key, "md5.romJsPer4kMs");
  assert.equal(rom.value, (90 - 20 + 11) / 1000);
  assert.match(rom.note!, /0\.361 ms when the input is staged/);
  assert.match(rom.note!, /cannot run here/);
  assert.deepEqual(romCostFigures(new Error("no nm")).map((f) => f.verdict), ["error", "error"]);
});

// The ESP32 memory model of the bench, checked without Espruino: what goes into the emulated
// flash's Storage (whatever agentStorageFiles() returns, the stub in front, an application
// beside the agent), the Storage layout of several files, the interpreter-format check, the
// bench identity, and the application and ballast reports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "acorn";
import { loadBoard, BOARDS_DIR } from "../../src/host/boards/load-board";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { linuxFlashFile, storageBytes, storageCapacity, STORAGE_HEADER_SIZE, LINUX_FLASH_BASE } from "../../src/host/bench/linux-flash";
import { installPlan, markLoaded, APP_FILE } from "../../src/host/bench/install-plan";
import { appProgram } from "../../src/host/bench/app-program";
import { deviceStub, parseStubLine } from "../../src/host/bench/device-stub";
import { formatProblem } from "../../src/host/bench/esp32-format";
import { BENCH_PROVISION } from "../../src/host/bench/provision";
import { OUT_OF_MEMORY } from "../../src/host/bench/real-board";

const linux = loadBoard(join(BOARDS_DIR, "espruino-linux.json"));
const app = buildAppImage({ version: "1.0.0", projectName: "espruino", size: 0x4000, seed: 3 });
const es5 = (code: string) => parse(code, { ecmaVersion: 5, sourceType: "script" });
const stub = { flashBase: LINUX_FLASH_BASE, heap: 4100 };

/** Reads Storage back the way Espruino walks it: header, data, next header 4-byte aligned, stop at erased flash. */
function readStorage(flash: Uint8Array): { name: string; data: string }[] {
  const dv = new DataView(flash.buffer, flash.byteOffset);
  const out: { name: string; data: string }[] = [];
  let at = 0;
  for (;;) {
    const size = dv.getUint32(at, true);
    if (size === 0xffffffff) return out;
    const name = Buffer.from(flash.subarray(at + 4, at + STORAGE_HEADER_SIZE)).toString("latin1").replace(/\0+$/, "");
    out.push({ name, data: Buffer.from(flash.subarray(at + STORAGE_HEADER_SIZE, at + STORAGE_HEADER_SIZE + size)).toString("latin1") });
    at = Math.ceil((at + STORAGE_HEADER_SIZE + size) / 4) * 4;
  }
}

test("several Storage files lie end to end, each at a 4-byte boundary, erased flash after the last", () => {
  const files = [
    { name: ".boot0", data: "print(1);" },
    { name: "ota.cfg", data: '{"productId":"P","deviceName":"d"}' },
    { name: ".bootcde", data: "print(22);" },
  ];
  const flash = linuxFlashFile(linux, app, files);
  assert.deepEqual(readStorage(flash), files);
  const end = storageBytes(files);
  assert.ok(flash.subarray(end, linux.partitionTable.offset).every((b) => b === 0xff));
  assert.throws(() => linuxFlashFile(linux, app, [files[0], files[0]]), /given twice/);
  const big = [{ name: ".boot0", data: "x".repeat(storageCapacity(linux) / 2) }, { name: ".bootcde", data: "y".repeat(storageCapacity(linux) / 2) }];
  assert.throws(() => linuxFlashFile(linux, app, big), /take \d+ bytes but only \d+ fit before the layout at 0x19000/);
});

test("the install plan takes the agent's files as given, the stub in front of the first boot file", () => {
  const agentFiles = [
    { name: "ota.cfg", data: JSON.stringify(BENCH_PROVISION) },
    { name: ".boot0", data: "function start(){print('agent')}start();" },
    { name: "ota.job", data: "function job(){}" },
  ];
  const plan = installPlan({ agentFiles, stub, app: appProgram({ holdJsVars: 2000 }) });
  const byName = new Map(plan.files.map((f) => [f.name, f.data]));
  assert.deepEqual([...byName.keys()].sort(), [".boot0", ".bootcde", "ota.cfg", "ota.job"]);
  assert.equal(plan.appFile, APP_FILE, "the application goes where the Web IDE saves it");
  assert.deepEqual(plan.notes, []);
  assert.deepEqual(plan.agentBootFiles, [".boot0"]);
  assert.equal(plan.residentBytes, agentFiles[1].data.length, "only boot files are resident");
  const boot0 = byName.get(".boot0") as string;
  assert.ok(boot0.startsWith(deviceStub(stub)), "the stub (and its ballast) runs before anything else");
  assert.ok(boot0.indexOf("__bench.loaded();") < boot0.lastIndexOf("start();"));
  assert.equal(byName.get("ota.cfg"), agentFiles[0].data, "data files are untouched");
  assert.equal(byName.get("ota.job"), agentFiles[2].data);
  assert.doesNotThrow(() => es5(byName.get(".bootcde") as string));
  assert.doesNotThrow(() => es5(boot0));
});

test("an agent in .bootcde pushes the application to the last free .bootN, and says so", () => {
  const plan = installPlan({ agentFiles: [{ name: ".bootcde", data: "var a=1;go();" }], stub, app: appProgram({ holdJsVars: 10 }) });
  assert.equal(plan.appFile, ".boot3");
  assert.match(plan.notes.join(), /occupies \.bootcde/);
  const boot3 = plan.files.find((f) => f.name === ".boot3")!.data;
  assert.ok(boot3.startsWith("var __bench"), "the stub goes in front of the file that runs first");
  assert.ok(!plan.files.find((f) => f.name === ".bootcde")!.data.includes("var __bench"));
  assert.throws(() => installPlan({ agentFiles: [{ name: "ota.cfg", data: "{}" }], stub }), /no boot file/);
});

test("code in RAM: the boot files become one script in boot order, data stays in Storage", () => {
  const plan = installPlan({ agentFiles: [{ name: ".boot0", data: "go();" }, { name: "ota.cfg", data: "{}" }], stub, app: "print('app');", codeIn: "ram" });
  assert.deepEqual(plan.files.map((f) => f.name), ["ota.cfg"]);
  const s = plan.script as string;
  assert.ok(s.indexOf("// .boot0") < s.indexOf("// .bootcde"));
  assert.doesNotThrow(() => es5(s));
});

test("markLoaded goes before the starting statement, or at the end", () => {
  assert.equal(markLoaded("var x=1;go();"), "var x=1;\n__bench.loaded();\ngo();");
  assert.match(markLoaded("function f(){}"), /function f\(\)\{\}\n;__bench\.loaded\(\);/);
});

test("the ESP32 format is 14-byte JsVars; anything else is refused with what is wrong", () => {
  assert.equal(formatProblem("/x/espruino", { blockSize: 14, total: 16383 }), null);
  assert.match(formatProblem("/x/espruino", { blockSize: 27, total: 16383 }) as string, /27-byte JsVars .*64-bit.*blocksize 14/);
  assert.match(formatProblem("/x/espruino", { blockSize: 13, total: 12000 }) as string, /variables: 16383/);
});

test("ballast, application and out-of-memory reports parse", () => {
  assert.deepEqual(parseStubLine("@@BOOT 46 14 16383"), { kind: "boot", usage: 46, blockSize: 14, total: 16383 });
  assert.deepEqual(parseStubLine("@@BALLAST 12123 4054 160 4100"), { kind: "ballast", ballast: 12123, free: 4054, base: 160, heap: 4100 });
  assert.deepEqual(parseStubLine("@@APP 2002 2000"), { kind: "app", held: 2002, wanted: 2000 });
  assert.deepEqual(parseStubLine("@@GAP 1109 57"), { kind: "gap", ms: 1109, tick: 57 });
  assert.doesNotThrow(() => es5(appProgram({ holdJsVars: 2000, intervalMs: 100 })));
  assert.ok(OUT_OF_MEMORY.test("OUT OF MEMORY    at pr (:1:1)"));
  assert.ok(OUT_OF_MEMORY.test("New interpreter error: LOW_MEMORY,MEMORY"));
  assert.ok(!OUT_OF_MEMORY.test("ota: idle --update--> downloading"));
});

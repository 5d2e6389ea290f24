// The host runtime must offer what Espruino 2v29 on an ESP32 offers and nothing more, with
// Espruino's quirks, so a bundle that passes here does not meet surprises on the board.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Device, type DeviceOptions } from "../../src/host/runtime/device";
import { NorFlash } from "../../src/host/runtime/nor-flash";
import type { AddressSpace } from "../../src/host/runtime/address-space";

async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function start(bundle: string, extra: Partial<DeviceOptions> = {}): Device {
  const device = new Device({ bundle, flash: new NorFlash({ size: 64 * 1024 }), ...extra });
  device.boot();
  return device;
}

test("what Espruino lacks is missing inside the runtime", (t) => {
  const d = start("");
  t.after(() => d.stop());
  const missing = [
    "typeof Map", "typeof Set", "typeof WeakMap", "typeof WeakSet", "typeof Symbol", "typeof Proxy", "typeof Reflect",
    "typeof BigInt", "typeof WeakRef", "typeof FinalizationRegistry", "typeof Intl", "typeof queueMicrotask",
    "typeof structuredClone", "typeof SharedArrayBuffer", "typeof Atomics", "typeof WebAssembly", "typeof setImmediate",
    "typeof Buffer", "typeof TextEncoder",
    "typeof Math.imul", "typeof Math.trunc", "typeof Math.clz32", "typeof Math.log2", "typeof Math.hypot", "typeof Math.fround",
    "typeof Math.cbrt", "typeof Math.sinh",
    "typeof Array.from", "typeof Array.of", "typeof Number.isInteger", "typeof Number.isNaN", "typeof Number.isFinite",
    "typeof Number.parseInt", "typeof Number.parseFloat", "typeof Number.EPSILON", "typeof Number.MAX_SAFE_INTEGER",
    "typeof Object.freeze", "typeof Object.seal", "typeof Object.is", "typeof Object.isFrozen",
    "typeof Promise.race", "typeof Promise.allSettled", "typeof Promise.any", "typeof Promise.prototype.finally",
    "typeof ''.codePointAt", "typeof ''.normalize", "typeof ''.trimStart", "typeof ''.trimEnd", "typeof ''.localeCompare",
    "typeof [].lastIndexOf", "typeof [].reduceRight", "typeof [].flat", "typeof [].flatMap", "typeof [].keys",
    "typeof [].entries", "typeof [].values", "typeof new Uint8Array(1).lastIndexOf", "typeof new ArrayBuffer(1).slice",
    "typeof new Error('x').name", "typeof new TypeError('x').name",
  ];
  for (const expr of missing) assert.equal(d.evaluate(expr), "undefined", expr);
  // A sample of what must still be there.
  const present = [
    "typeof [].slice", "typeof Math.pow", "typeof Object.keys", "typeof Object.assign", "typeof JSON.parse",
    "typeof Promise.all", "typeof new DataView(new ArrayBuffer(4)).getUint32", "typeof new Uint8Array(2).subarray",
    "typeof ''.padStart", "typeof [].includes", "typeof E.toUint8Array", "typeof ESP32.setOTAValid", "typeof global",
  ];
  for (const expr of present) assert.notEqual(d.evaluate(expr), "undefined", expr);
});

test("the bundle itself sees Map and Math.imul as undefined", async (t) => {
  const d = start('print(typeof Map === "undefined", typeof Math.imul === "undefined", typeof Array.from);');
  t.after(() => d.stop());
  assert.deepEqual(d.log, ["true true undefined"]);
});

test("Espruino quirks: 8-bit strings into typed arrays, JSON of typed arrays, apply limit, errors", (t) => {
  const d = start("");
  t.after(() => d.stop());
  assert.equal(d.evaluate('var u = new Uint8Array(4); u.set("\\x01\\xff\\x80", 1); u.join(",")'), "0,1,255,128");
  assert.equal(d.evaluate("String.fromCharCode(0x141, 0x41).charCodeAt(0)"), 0x41);
  assert.equal(d.evaluate("JSON.stringify({a: new Uint8Array([1, 2])})"), '{"a":[1,2]}');
  assert.throws(() => d.evaluate("Math.max.apply(null, new Array(300))"), /too big! Maximum 256/);
  assert.equal(d.evaluate("Math.max.apply(null, [1, 5, 3])"), 5);
  assert.equal(d.evaluate("String(new TypeError('bad'))"), "TypeError: bad");
  assert.equal(d.evaluate("var caught; try { null.x } catch (e) { caught = e instanceof Error } caught"), true);
});

test("emit() queues listeners instead of calling them synchronously", async (t) => {
  const d = start(`
    var o = {};
    o.on("ev", function (a, b) { print("listener", a, b, this === o); });
    o.emit("ev", 1, 2);
    print("after emit");
  `);
  t.after(() => d.stop());
  await waitFor(() => d.log.length === 2, "listener");
  assert.deepEqual(d.log, ["after emit", "listener 1 2 true"]);
});

test("Promise behaves like Espruino's: queued steps, all/resolve/reject, no finally/race", async (t) => {
  const d = start(`
    var order = [];
    new Promise(function (resolve) { order.push("executor"); resolve(1); })
      .then(function (v) { order.push("then " + v); return Promise.resolve(v + 1); })
      .then(function (v) { order.push("chained " + v); throw new Error("oops"); })
      .catch(function (e) { order.push("caught " + e.message); print(order.join("|")); });
    Promise.all([Promise.resolve("a"), "b", new Promise(function (r) { setTimeout(function () { r("c"); }, 2); })])
      .then(function (all) { print("all " + all.join("")); });
    order.push("sync end");
  `);
  t.after(() => d.stop());
  await waitFor(() => d.log.length === 2, "promise chain and Promise.all");
  assert.ok(d.log.includes("executor|sync end|then 1|chained 2|caught oops"), d.log.join("\n"));
  assert.ok(d.log.includes("all abc"));
  assert.deepEqual(d.uncaught, []);
  assert.equal(d.evaluate("typeof Promise.prototype.finally + typeof Promise.race"), "undefinedundefined");
});

test("late .catch() on an already fulfilled promise raises an unhandled rejection, as in Espruino 2v29", async (t) => {
  const d = start(`
    var p = Promise.resolve(42);
    p.then(function () {
      // p is fulfilled by now: attaching catch() passes 42 on as a rejection.
      p.catch(function () { print("never called"); });
    });
  `);
  t.after(() => d.stop());
  await waitFor(() => d.uncaught.length > 0, "unhandled rejection");
  assert.deepEqual(d.uncaught, ["Uncaught Error: Unhandled promise rejection: 42"]);
  assert.ok(!d.log.includes("never called"));
});

test("timer ids are reused like Espruino's and clearTimeout follows its rules", async (t) => {
  const d = start(`
    var first = setTimeout(function () {
      print("first fired", first);
      var second = setTimeout(function () {
        var third = setTimeout(function () { print("never"); }, 5);
        print("ids", first, second, third);
        clearTimeout();
      }, 1);
    }, 1);
    print("first id", first);
  `);
  t.after(() => d.stop());
  await waitFor(() => d.log.some((l) => l.startsWith("ids")), "ids");
  await new Promise((r) => setTimeout(r, 30));
  // The first timeout is still in the list while its callback runs, so the second gets 2;
  // by the time the third is created the list only holds the second, so it gets 3.
  assert.deepEqual(d.log, ["first id 1", "first fired 1", "ids 1 2 3"]);
  assert.throws(() => d.evaluate("clearTimeout(undefined)"), /clearTimeout\(undefined\) not allowed/);
  assert.equal(d.evaluate("clearTimeout(12345)"), undefined, "an unknown id is ignored");
  // With the list empty, numbering starts again at 1.
  assert.equal(d.evaluate("setTimeout(function () {}, 1000)"), 1);
  assert.equal(d.evaluate("setTimeout(function () {}, 1000)"), 2);
  assert.equal(d.evaluate("clearTimeout(); setTimeout(function () {}, 1000)"), 1);
});

test("intervals repeat until cleared and an uncaught exception does not stop the event loop", async (t) => {
  const d = start(`
    var n = 0;
    var iv = setInterval(function () {
      n++;
      if (n === 2) throw new Error("tick failed");
      if (n === 4) { clearInterval(iv); print("done", n); }
    }, 2);
  `);
  t.after(() => d.stop());
  await waitFor(() => d.log.includes("done 4"), "interval");
  assert.deepEqual(d.uncaught, ["Uncaught Error: tick failed"]);
  assert.ok(d.log.includes("Uncaught Error: tick failed"));
});

test("an exception at load time and an unhandled rejection are logged as Uncaught", async (t) => {
  const d = start(`
    Promise.reject(new Error("nobody listens"));
    setTimeout(function () { print("still running"); }, 1);
    throw new Error("load failed");
  `);
  t.after(() => d.stop());
  await waitFor(() => d.log.includes("still running") && d.uncaught.length === 2, "timer after load error");
  assert.deepEqual(d.uncaught.sort(), ["Uncaught Error: Unhandled promise rejection: Error: nobody listens", "Uncaught Error: load failed"].sort());
});

test("E conversions, CRC32 and base64 are binary safe", (t) => {
  const d = start("");
  t.after(() => d.stop());
  assert.equal(d.evaluate('E.CRC32("123456789")'), 0xcbf43926);
  assert.equal(d.evaluate('E.CRC32(new Uint8Array([49,50,51,52,53,54,55,56,57]))'), 0xcbf43926);
  assert.equal(d.evaluate('E.toUint8Array("ab", 67, [68, 69], {data: 70, count: 2}).join(",")'), "97,98,67,68,69,70,70");
  assert.equal(d.evaluate("E.toString(new Uint8Array([104, 105, 255])).length"), 3);
  assert.equal(d.evaluate("E.toString(new Uint8Array([104, 105, 255])).charCodeAt(2)"), 255);
  assert.equal(d.evaluate('new Uint8Array(E.toArrayBuffer("\\x00\\x80\\xff")).join(",")'), "0,128,255");
  const roundTrip = d.evaluate(`
    var all = ""; for (var i = 0; i < 256; i++) all += String.fromCharCode(i);
    var b = btoa(all); atob(b) === all && b
  `);
  assert.equal(roundTrip, Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString("base64"));
  assert.ok(d.evaluate("E.toUint8Array('x') instanceof Uint8Array"), "results belong to the context's realm");
});

test("crypto has one-shot SHA digests only", (t) => {
  const d = start("");
  t.after(() => d.stop());
  const hex = d.evaluate(`
    var h = new Uint8Array(require("crypto").SHA256("abc")), s = "";
    for (var i = 0; i < h.length; i++) s += (h[i] < 16 ? "0" : "") + h[i].toString(16);
    s
  `);
  assert.equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(d.evaluate('typeof require("crypto").MD5'), "undefined");
  assert.throws(() => d.evaluate('require("fs")'), /Module "fs" not found/);
});

test("E.nativeCall reaches the ROM model with DRAM addresses of the bundle's buffers", (t) => {
  const calls: Array<{ addr: number; sig: string; args: number[] }> = [];
  // A stand-in for rom-model.ts: one function that sums `len` bytes at `ptr` and doubles them in place.
  const romFunction = (addr: number, sig: string, mem: AddressSpace) => {
    if (addr !== 0x4005cfec) return undefined;
    return (...args: number[]) => {
      calls.push({ addr, sig, args });
      const [seed, ptr, len] = args;
      const bytes = mem.view(ptr, len);
      let sum = seed;
      for (let i = 0; i < bytes.length; i++) {
        sum += bytes[i];
        bytes[i] = bytes[i] * 2;
      }
      return sum;
    };
  };
  const d = start("", { romFunction });
  t.after(() => d.stop());
  const result = d.evaluate(`
    var buf = new Uint8Array(64);
    for (var i = 0; i < 64; i++) buf[i] = i;
    var view = new Uint8Array(buf.buffer, 8, 4);
    var f = E.nativeCall(0x4005cfec, "int(int,int,int)");
    var r = f(100, E.getAddressOf(view, true), 4);
    [r, buf[8], buf[11], buf[12], E.getAddressOf(buf, true), E.getAddressOf(view, true) - E.getAddressOf(buf, true),
     E.getAddressOf(new Uint8Array(16), true)].join(",")
  `) as string;
  const [sum, b8, b11, b12, base, delta, small] = result.split(",").map(Number);
  assert.equal(sum, 100 + 8 + 9 + 10 + 11);
  assert.deepEqual([b8, b11, b12], [16, 22, 12], "the ROM function wrote into the bundle's buffer");
  assert.ok(base >= 0x3ffb0000 && base < 0x40000000 && base % 4 === 0, "plausible aligned DRAM address: " + base.toString(16));
  assert.equal(delta, 8);
  assert.equal(small, 0, "a 16-byte array is not flat, as on Espruino");
  assert.equal(d.evaluate("E.getAddressOf(buf, true) === E.getAddressOf(buf.buffer, true)"), true, "stable per buffer");
  assert.deepEqual(calls.map((c) => c.sig), ["int(int,int,int)"]);
  assert.throws(() => d.evaluate('E.nativeCall(0x4005cfec, "nonsense")'), /signature/);
});

test("calling an address the ROM model does not know crashes and reboots the board", async (t) => {
  const d = start('print("up"); setTimeout(function () { E.nativeCall(0x40001234, "void(int)")(1); }, 1);', {
    romFunction: () => undefined,
  });
  t.after(() => d.stop());
  await waitFor(() => d.boots === 2, "reboot after crash");
  assert.ok(d.log.some((l) => l.includes("Guru Meditation")));
  assert.ok(d.events.some((e) => e.startsWith("reboot: crash")));
});

test("the gate sees the bundle before anything runs and can refuse it", () => {
  const seen: string[] = [];
  const gate = (code: string, filename: string) => {
    seen.push(filename + ":" + code);
    if (code.includes("forbidden")) throw new Error("gate: refused");
  };
  const d = new Device({ bundle: "print(1)", flash: new NorFlash({ size: 4096 }), gate });
  assert.deepEqual(seen, [".bootcde:print(1)"]);
  assert.throws(
    () => new Device({ bundle: "forbidden()", flash: new NorFlash({ size: 4096 }), gate }),
    /gate: refused/,
  );
  d.stop();
});

test("process reports plausible memory and the ESP32 environment", (t) => {
  const d = start("");
  t.after(() => d.stop());
  const m = d.evaluate("process.memory()") as Record<string, number>;
  assert.equal(m.blocksize, 14);
  assert.equal(m.free + m.usage, m.total);
  d.memory = { total: 5000, usage: 4900 };
  assert.equal(d.evaluate("process.memory().free"), 100);
  assert.equal(d.evaluate("process.env.VERSION + '/' + process.env.BOARD"), "2v29/ESP32");
  assert.equal(d.evaluate("typeof ESP32.getState().freeHeap"), "number");
});

test("require() runs a Storage file as a module, in a scope of its own, cached until Modules.removeCached", (t) => {
  const d = start("", {
    files: { "m.js": "var hidden = 7; function twice(x) { return 2 * x; } runs = (typeof runs == 'number' ? runs : 0) + 1; module.exports = function (x) { return twice(x) + hidden; };" },
  });
  t.after(() => d.stop());
  assert.equal(d.evaluate('require("m.js")(5)'), 17);
  assert.equal(d.evaluate("typeof hidden + ' ' + typeof twice"), "undefined undefined", "the module's names stay in its scope");
  assert.equal(d.evaluate('require("m.js") === require("m.js")'), true, "cached");
  assert.equal(d.evaluate("runs"), 1, "run once while cached");
  d.evaluate('Modules.removeCached("m.js")');
  d.evaluate('require("m.js")');
  assert.equal(d.evaluate("runs"), 2, "run again after removeCached");
  assert.throws(() => d.evaluate('Modules.removeCached("nope")'), /not found/);
  assert.throws(() => d.evaluate('require("nope")'), /not found/);
});

// The simulated board: the Flash module over the NOR model, reboots that keep flash but lose
// RAM, and power cuts after which nothing of the old boot ever runs again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Device, type DeviceOptions } from "../../src/host/runtime/device";
import { NorFlash } from "../../src/host/runtime/nor-flash";

async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function make(bundle: string, extra: Partial<DeviceOptions> = {}): Device {
  return new Device({ bundle, flash: new NorFlash({ size: 64 * 1024 }), ...extra });
}

test("a bundle reads flash bytes through require('Flash') and prints them", (t) => {
  const flash = new NorFlash({ size: 64 * 1024 });
  flash.bytes.set([0xde, 0xad, 0xbe, 0xef], 0x3000);
  const d = new Device({
    flash,
    bundle: `
      var bytes = require("Flash").read(4, 0x3000);
      print(bytes instanceof Uint8Array, bytes.length, bytes[0].toString(16), bytes[3].toString(16));
      print(require("Flash").read(0, 0x3000));
    `,
  });
  t.after(() => d.stop());
  d.boot();
  assert.deepEqual(d.log, ["true 4 de ef", "undefined"]);
});

test("Flash.write and erasePage go to the NOR model, with its rules", (t) => {
  const flash = new NorFlash({ size: 64 * 1024 });
  const d = new Device({ flash, flashBase: 0x10000000, bundle: "" });
  t.after(() => d.stop());
  d.boot();
  d.evaluate(`
    var F = require("Flash");
    F.erasePage(0x10002010);
    F.write("ab", 0x10002001);
    F.write(new Uint8Array([1, 2, 3]), 0x10002004);
    F.write([9, 8], 0x10002008);
  `);
  assert.deepEqual([...flash.read(0x2000, 10)], [0xff, 0x61, 0x62, 0xff, 1, 2, 3, 0xff, 9, 8]);
  assert.equal(flash.stats.erases, 1);
  assert.deepEqual(d.evaluate('var p = F.getPage(0x10002abc); [p.addr, p.length].join(",")'), String(0x10002000) + ",4096");
  assert.deepEqual(flash.violations, []);
  d.evaluate('F.write("\\xff", 0x10002004)'); // 0x01 -> 0xff would set bits
  assert.equal(flash.violations.length, 1);
  assert.throws(() => d.evaluate("F.write(new Uint8Array(5000), 0x10003000)"), /4096/);
  assert.throws(() => d.evaluate("F.read(4, 0x0)"), /outside the flash chip/);
  assert.throws(() => d.evaluate("F.erasePage(0x10000000 + 64 * 1024)"), /outside the flash chip/);
  assert.throws(() => d.evaluate('F.erasePage("0x10002000")'), /should be an integer/);
});

test("a reboot gives a fresh context while flash contents persist", async (t) => {
  const flash = new NorFlash({ size: 64 * 1024 });
  const d = new Device({
    flash,
    bundle: `
      var F = require("Flash");
      var count = F.read(1, 0x4000)[0];
      print("boot", count, typeof leftover);
      var leftover = "from the previous boot";
      if (count === 0xff) { F.write([0x7f], 0x4000); setTimeout(function () { E.reboot(); }, 1); }
      else if (count === 0x7f) { F.write([0x3f], 0x4000); ESP32.reboot(); print("not printed: code after reboot"); }
    `,
  });
  t.after(() => d.stop());
  d.boot();
  await waitFor(() => d.boots === 3 && d.log.length === 3, "two reboots");
  assert.deepEqual(d.log, ["boot 255 undefined", "boot 127 undefined", "boot 63 undefined"]);
  assert.equal(flash.bytes[0x4000], 0x3f);
  assert.deepEqual(d.events, ["boot 1", "reboot: E.reboot()", "boot 2", "reboot: ESP32.reboot()", "boot 3"]);
});

test("E.reboot runs E.on('kill') handlers first; ESP32.reboot does not", async (t) => {
  const d = make(`
    E.on("kill", function () { print("kill handler"); });
    if (!require("Storage").read("rebooted")) { require("Storage").write("rebooted", "1"); E.reboot(); }
    else print("second boot");
  `);
  t.after(() => d.stop());
  d.boot();
  await waitFor(() => d.log.includes("second boot"), "second boot");
  assert.deepEqual(d.log, ["kill handler", "second boot"]);
});

test("setOTAValid calls are recorded; setOTAValid(false) reboots the board", async (t) => {
  const seen: boolean[] = [];
  const d = make(
    `
    print("boot");
    ESP32.setOTAValid(true);
    if (!require("Storage").read("once")) { require("Storage").write("once", "x"); ESP32.setOTAValid(false); }
  `,
    { onSetOTAValid: (valid) => void seen.push(valid) },
  );
  t.after(() => d.stop());
  d.boot();
  await waitFor(() => d.boots === 2, "reboot after setOTAValid(false)");
  assert.deepEqual(d.otaValidCalls, [true, false, true]);
  assert.deepEqual(seen, [true, false, true]);
  assert.deepEqual(d.log, ["boot", "boot"]);
});

test("setOTAValid(false) does not reboot when the hook reports that IDF refused", async (t) => {
  const d = make('ESP32.setOTAValid(false); setTimeout(function () { print("still on the same boot"); }, 1);', {
    onSetOTAValid: () => false,
  });
  t.after(() => d.stop());
  d.boot();
  await waitFor(() => d.log.length > 0, "timer");
  assert.deepEqual(d.log, ["still on the same boot"]);
  assert.equal(d.boots, 1);
  assert.deepEqual(d.otaValidCalls, [false]);
});

test("after device.powerCut() no timer of the old boot fires, and boot() starts over", async (t) => {
  const d = make(`
    var n = 0;
    setInterval(function () { print("tick " + (++n)); }, 2);
    setTimeout(function () { print("late timeout"); }, 20);
    Promise.resolve().then(function () { return new Promise(function (r) { setTimeout(r, 15); }); })
      .then(function () { print("late promise"); });
  `);
  t.after(() => d.stop());
  d.boot();
  await waitFor(() => d.log.length >= 2, "two ticks");
  d.powerCut();
  const frozen = d.log.length;
  assert.equal(d.running, false);
  await sleep(60);
  assert.equal(d.log.length, frozen, "nothing printed after the cut: " + d.log.slice(frozen).join(", "));
  assert.throws(() => d.evaluate("1"), /not running/);
  d.boot();
  assert.equal(d.boots, 2);
  await waitFor(() => d.log.includes("late timeout"), "second boot timers");
});

test("a power cut scheduled on the flash kills the device mid-operation and it stays off", async (t) => {
  const flash = new NorFlash({ size: 64 * 1024, seed: 3 });
  const d = new Device({
    flash,
    bundle: `
      var F = require("Flash");
      var sector = 0;
      function step() {
        print("erasing " + sector);
        F.erasePage(0x8000 + sector * 4096);
        F.write(new Uint8Array(4096), 0x8000 + sector * 4096);
        sector++;
        if (sector < 4) setTimeout(step, 1);
      }
      setInterval(function () { print("heartbeat"); }, 3);
      step();
    `,
  });
  t.after(() => d.stop());
  flash.cutPowerAfter(4); // erase 0, write 0, erase 1, then the 4th operation (write of sector 1) is cut
  d.boot();
  await waitFor(() => d.status === "off", "power cut");
  assert.equal(flash.poweredOff, true);
  const frozen = d.log.length;
  assert.deepEqual(d.log.filter((l) => l.startsWith("erasing")), ["erasing 0", "erasing 1"]);
  assert.ok(d.events.some((e) => e.startsWith("power cut: power cut during write")), d.events.join("; "));
  // Sector 0 complete, sector 1 half programmed.
  assert.ok(flash.bytes.slice(0x8000, 0x9000).every((b) => b === 0));
  const s1 = flash.bytes.slice(0x9000, 0xa000);
  assert.ok(s1.includes(0xff) && s1[0] === 0, "sector 1 is partly written");
  await sleep(30);
  assert.equal(d.log.length, frozen, "no heartbeat after the cut");
  assert.throws(() => d.boot(), /powerOn/);
  flash.powerOn();
  d.boot();
  assert.equal(d.boots, 2);
  assert.equal(d.running, true);
});

test("a power cut that hits the chip outside the Flash module also stops the device", async (t) => {
  const flash = new NorFlash({ size: 64 * 1024 });
  const d = new Device({ flash, bundle: 'setInterval(function () { print("tick"); }, 2);' });
  t.after(() => d.stop());
  d.boot();
  await waitFor(() => d.log.length > 0, "tick");
  flash.cutPowerAfter(1);
  assert.throws(() => flash.erase(0)); // e.g. a test tool writing to the chip directly
  await waitFor(() => d.status === "off", "device notices");
  const n = d.log.length;
  await sleep(20);
  assert.equal(d.log.length, n);
});

test("getTime counts from power-on until setTime, and survives a soft reboot but not a power cut", (t) => {
  const d = make("");
  t.after(() => d.stop());
  d.boot();
  const t0 = d.evaluate("getTime()") as number;
  assert.ok(t0 >= 0 && t0 < 5, "seconds since boot: " + t0);
  d.evaluate("setTime(1700000000)");
  const t1 = d.evaluate("getTime()") as number;
  assert.ok(t1 >= 1700000000 && t1 < 1700000100);
  assert.ok(Math.abs((d.evaluate("Date.now()") as number) - t1 * 1000) < 1000);
  d.reset();
  assert.ok((d.evaluate("getTime()") as number) >= 1700000000, "a reset keeps the RTC time");
  d.powerCut();
  d.boot();
  assert.ok((d.evaluate("getTime()") as number) < 5, "a power cut loses it");
});

test("a manual watchdog that is not kicked resets the board", async (t) => {
  const d = make(`
    print("boot");
    if (!require("Storage").read("wdt")) { require("Storage").write("wdt", "1"); E.enableWatchdog(1, false); }
  `);
  t.after(() => d.stop());
  d.boot();
  await waitFor(() => d.boots === 2, "watchdog reset", 4000);
  assert.ok(d.log.some((l) => l.includes("watchdog")));
});

test("boot files run like Espruino's: .boot0 to .boot3, then .bootcde, and one that throws does not stop the next", (t) => {
  const d = new Device({
    flash: new NorFlash({ size: 64 * 1024 }),
    files: { ".bootcde": 'print("app")', ".boot2": 'print("two")', ".boot0": 'print("zero"); throw new Error("agent broke")', "notboot": 'print("never")' },
  });
  t.after(() => d.stop());
  d.boot();
  assert.deepEqual(d.log.filter((l) => !l.startsWith(" ")), ["zero", "Uncaught Error: agent broke", "two", "app"]);
  d.setFile(".boot1", 'print("one")');
  d.reset();
  assert.deepEqual(d.log.filter((l) => !l.startsWith(" ")).slice(4), ["zero", "Uncaught Error: agent broke", "one", "two", "app"]);
});

test("Storage keeps named files across boots and refuses rewriting written bytes", (t) => {
  const d = make("");
  t.after(() => d.stop());
  d.boot();
  d.evaluate('var S = require("Storage"); S.write("state", "ab", 0, 6); S.write("state", "cd", 2);');
  assert.equal(d.evaluate('S.read("state")'), "abcd\xff\xff");
  assert.throws(() => d.evaluate('S.write("state", "zz", 0 + 1)'), /already written/);
  d.evaluate('S.writeJSON("cfg", {a: 1})');
  d.reset();
  assert.equal(d.evaluate('require("Storage").readJSON("cfg").a'), 1);
  assert.throws(() => d.evaluate('require("Storage").write("empty", "")'), /zero length/);
});

test("stop() leaves nothing running", async (t) => {
  const d = make('setInterval(function () { print("tick"); }, 1);');
  d.boot();
  await waitFor(() => d.log.length > 0, "tick");
  d.stop();
  const n = d.log.length;
  await sleep(20);
  assert.equal(d.log.length, n);
  assert.throws(() => d.boot(), /stopped/);
  t.diagnostic("stopped cleanly");
});

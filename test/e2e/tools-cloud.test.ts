// `ota-cloud` driven exactly as a user runs it (the package bin, src/host/cloud-cli/bin.js)
// against a small fleet of simulated boards: on aedes, and on a real mosquitto when it is
// installed (skipped otherwise, unless CI is set). The table it prints is read back and
// checked row by row, and so is `ota-cloud status`. Application rollouts (--app) are driven
// against a scripted device on aedes: what is pushed and served, and which reports count.
import { SIGN_TRAILER } from "../../src/core/sign/verify";
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildAppImage } from "../../src/host/image/app-image-builder";
import { freePort, mosquittoAvailable, startBroker, type Broker, type BrokerKind } from "../../src/host/sim/broker";
import { bundleFor, resolveBoard } from "../../src/host/sim/ota-run";
import { fleetDeviceName, startFleetDevice, type FleetDevice } from "../../src/host/sim/fleet";
import { networkProfile, type NetworkProfile } from "../../src/host/sim/fleet-profiles";
import type { BrokenImage } from "../../src/host/sim/sim-device";
import { parseResultTable } from "../../src/host/cloud/display";
import mqtt from "mqtt";
import { buildAppPackage, readAppPackage } from "../../src/host/app/package";
import { OtaService } from "../../src/host/cloud/service";
import { readSigned, signImage } from "../../src/host/sign/trailer";

const tmp = mkdtempSync(join(tmpdir(), "tools-cloud-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the `ota-cloud` bin; `started` is called once it printed its first line. */
function otaCloud(args: string[], started?: () => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["src/host/cloud-cli/bin.js", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let told = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      if (!told && stderr.includes("\n")) {
        told = true;
        started?.();
      }
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

interface Bench {
  broker: Broker;
  httpPort: number;
  firmware: string;
  imageBytes: number;
  devices: FleetDevice[];
  keys: string[];
  close(): Promise<void>;
}

/** A broker, a firmware file (version `to`) and `count` simulated boards running `from`; not powered on. */
async function startBench(o: { dir: string; broker: BrokerKind; count: number; network: NetworkProfile; imageBytes: number; broken?: (i: number) => BrokenImage[] | undefined }): Promise<Bench> {
  const board = resolveBoard("host-sim");
  const bundle = bundleFor(board);
  const broker = await startBroker(o.broker);
  const httpPort = await freePort();
  const firmware = join(o.dir, "fw-1.2.0.bin");
  writeFileSync(firmware, buildAppImage({ version: "1.2.0", projectName: "espruino", size: o.imageBytes, seed: 5 }));
  const initialImage = buildAppImage({ version: "1.0.0", projectName: "espruino", size: 0x10000, seed: 6 });
  const devices: FleetDevice[] = [];
  for (let i = 0; i < o.count; i++) {
    devices.push(
      await startFleetDevice({
        board,
        bundle,
        deviceName: fleetDeviceName(i),
        brokerPort: broker.port,
        httpHost: "127.0.0.1",
        httpPort,
        network: o.network,
        initialImage,
        seed: 100 + i,
        broken: o.broken?.(i),
      }),
    );
  }
  return {
    broker,
    httpPort,
    firmware,
    imageBytes: o.imageBytes,
    devices,
    keys: devices.map((d) => d.key),
    async close() {
      for (const d of devices) await d.close();
      await broker.close();
    },
  };
}

const rowsOf = (r: CliRun) => parseResultTable(r.stdout);

// Weak downloads (cuts, stalls, 256 KB/s), but no MQTT drops: those come after a random *time*,
// and one landing in host-sim's 3 s trial window can roll a healthy image back, which would make
// the expected table depend on timing. Download faults are decided per connection from the seed.
const weakDownloads: NetworkProfile = { ...networkProfile("weak"), mqtt: { ...networkProfile("weak").mqtt, dropMeanMs: 0 } };
const good = networkProfile("good");

/** host-sim's signing key as a key file (`npm run keygen` format): serve signs the image with it. */
const keyFile = join(tmp, "host-sim.key");
writeFileSync(keyFile, resolveBoard("host-sim").provision!.signKey + "\n", { mode: 0o600 });

function serveArgs(bench: Bench, state: string, extra: string[] = []): string[] {
  return [
    "serve",
    "--broker", bench.broker.url,
    "--firmware", bench.firmware,
    "--sign-key", keyFile,
    ...bench.keys.flatMap((k) => ["--device", k]),
    "--host-ip", "127.0.0.1",
    "--listen", "127.0.0.1",
    "--port", String(bench.httpPort),
    "--timeout", "60",
    "--state", state,
    ...extra,
  ];
}

test("serve: three boards over weak links on aedes, one rolls back; the table says so and the exit code is 1", async () => {
  const bench = await startBench({
    dir: tmp,
    broker: "aedes",
    count: 3,
    network: weakDownloads,
    imageBytes: 96 * 1024,
    broken: (i) => (i === 2 ? [{ version: "1.2.0", mode: "offline" }] : undefined),
  });
  try {
    bench.devices[0].sim.powerOn(); // online before the cloud starts: gets the first push
    const state = join(tmp, "aedes-state.json");
    const r = await otaCloud(serveArgs(bench, state), () => {
      // these two come online later: the cloud pushes when they report their version
      bench.devices[1].sim.powerOn();
      bench.devices[2].sim.powerOn();
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const rows = rowsOf(r);
    assert.deepEqual(rows.map((x) => x.device), bench.keys);
    for (const row of rows.slice(0, 2)) {
      assert.equal(row.result, "done", JSON.stringify(row));
      assert.equal(row.version, "1.2.0");
      assert.equal(row.percent, "100");
      assert.equal(row.code, "0");
      assert.ok(Number(row.fetched) >= bench.imageBytes, JSON.stringify(row));
      assert.ok(Number(row.requests) >= 2, JSON.stringify(row));
    }
    assert.equal(rows[2].result, "failed");
    assert.equal(rows[2].version, "1.0.0");
    assert.equal(rows[2].code, "-5");
    assert.match(r.stdout, /^3 devices: 2 done, 1 failed$/m);
    assert.deepEqual(bench.devices.map((d) => d.sim.runningVersion), ["1.2.0", "1.2.0", "1.0.0"]);
    // it followed the devices live (stderr is not a terminal here: one line per change)
    for (const k of bench.keys) assert.match(r.stderr, new RegExp(`${k} +\\[[#.]+\\] +\\d+%  downloading`));
    // served signed with --sign-key: 96 KB and the 80-byte trailer
    assert.match(r.stderr, /firmware  fw-1\.2\.0\.bin: version 1\.2\.0, 98384 bytes .*, signed with --sign-key$/m);

    const s = await otaCloud(["status", "--state", state]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /last run .* ended .*: version 1\.2\.0 \(98384 bytes\)/);
    assert.deepEqual(
      rowsOf(s).map((x) => [x.device, x.result, x.version, x.code]),
      rows.map((x) => [x.device, x.result, x.version, x.code]),
    );
  } finally {
    await bench.close();
  }
});

test("serve: a board that never shows up is reported offline when the time is up (exit 1)", async () => {
  const bench = await startBench({ dir: tmp, broker: "aedes", count: 0, network: good, imageBytes: 16 * 1024 });
  try {
    bench.keys.push("SIMPRODUCT/nobody");
    const r = await otaCloud(serveArgs(bench, join(tmp, "offline-state.json"), ["--timeout", "1"]));
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(rowsOf(r).map((x) => [x.device, x.result, x.fetched]), [["SIMPRODUCT/nobody", "offline", "0"]]);
    assert.match(r.stdout, /^1 device: 0 done, 0 failed, 1 offline$/m);
  } finally {
    await bench.close();
  }
});

test("serve refuses bad input clearly: a version the image does not carry, a broker that is not there, a bad device name", async () => {
  const bench = await startBench({ dir: tmp, broker: "aedes", count: 0, network: good, imageBytes: 16 * 1024 });
  try {
    bench.keys.push("SIMPRODUCT/dev");
    const state = join(tmp, "bad-state.json");
    const version = await otaCloud(serveArgs(bench, state, ["--version", "9.9.9"]));
    assert.equal(version.code, 2);
    assert.match(version.stderr, /--version 9\.9\.9 differs from the version in .*fw-1\.2\.0\.bin's app descriptor \(1\.2\.0\)/);

    const noBroker = await otaCloud(["serve", "--broker", `mqtt://127.0.0.1:${await freePort()}`, "--firmware", bench.firmware, "--sign-key", keyFile, "--device", "P/d", "--port", "0", "--host-ip", "127.0.0.1", "--state", state]);
    assert.equal(noBroker.code, 2);
    assert.match(noBroker.stderr, /cannot connect to the broker mqtt:\/\/127\.0\.0\.1:\d+/);

    const badDevice = await otaCloud(["serve", "--broker", bench.broker.url, "--firmware", bench.firmware, "--sign-key", keyFile, "--device", "P/d/x", "--port", "0", "--state", state]);
    assert.equal(badDevice.code, 2);
    assert.match(badDevice.stderr, /device "P\/d\/x" is not of the form productId\/deviceName/);

    const info = await otaCloud(["info", bench.firmware]);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /^version +1\.2\.0$/m);
    assert.match(info.stdout, new RegExp(`^md5 +${createHash("md5").update(readFileSync(bench.firmware)).digest("hex")}$`, "m"));
    assert.match(info.stdout, /^size +16384$/m);
    assert.match(info.stdout, /^signed +no /m);

    // boards install only signed updates: an unsigned image needs a key (or an explicit --unsigned)
    const unsigned = await otaCloud(["serve", "--broker", bench.broker.url, "--firmware", bench.firmware, "--device", "P/d", "--port", "0", "--state", state]);
    assert.equal(unsigned.code, 2);
    assert.equal(unsigned.stderr, `ota-cloud: ${bench.firmware} is not signed and boards install only signed updates: give --sign-key FILE, sign it with \`npm run sign\`, or pass --unsigned for lab boards with sign.required false\n`);
    const { signImage } = await import("../../src/host/sign/trailer");
    const signed = join(tmp, "fw-1.2.0.signed.bin");
    writeFileSync(signed, signImage(Buffer.alloc(32, 7), readFileSync(bench.firmware), "1.2.0"));
    const signedInfo = await otaCloud(["info", signed]);
    assert.match(signedInfo.stdout, /^signed +yes, for version 1\.2\.0, kind firmware/m);
    assert.match(signedInfo.stdout, /^size +16464$/m);
    const otherKey = await otaCloud(["serve", "--broker", bench.broker.url, "--firmware", signed, "--sign-key", keyFile, "--device", "P/d", "--port", "0", "--state", state]);
    assert.equal(otherKey.code, 2);
    assert.match(otherKey.stderr, /is signed, but not with the key given by --sign-key/);
    const unknown = await otaCloud(["serve", "--frimware", "x"]);
    assert.deepEqual([unknown.code, unknown.stderr], [2, "ota-cloud: unknown option --frimware (see ota-cloud --help)\n"]);
    const help = await otaCloud(["serve", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--sign-key FILE/);
    assert.ok(!help.stdout.includes(resolveBoard("host-sim").provision!.signKey!), "no key in any output");

    const notAnImage = join(tmp, "notes.txt");
    writeFileSync(notAnImage, "not firmware");
    const junk = await otaCloud(["serve", "--broker", bench.broker.url, "--firmware", notAnImage, "--device", "P/d", "--port", "0", "--state", state]);
    assert.equal(junk.code, 2);
    assert.match(junk.stderr, /notes\.txt is not an ESP32 app image/);
  } finally {
    await bench.close();
  }
});

// ---- application rollouts (no simulated board, so no agent bundle: a scripted device on aedes)

const APP_JS = 'setInterval(() => print("tick"), 1000);\nE.on("init", () => E.emit("OTA:healthy"));\n';

/** A device as the cloud sees it: it publishes reports and collects the pushes. */
async function scriptedDevice(brokerUrl: string, key: string) {
  const client = await mqtt.connectAsync(brokerUrl, { clientId: "scripted-" + key.replace("/", "-") + "-" + process.pid, reconnectPeriod: 0 });
  const pushes: Record<string, any>[] = [];
  const waiters: (() => void)[] = [];
  client.on("message", (_topic, payload) => {
    const msg = JSON.parse(payload.toString("utf8"));
    if (msg.type === "update_firmware") pushes.push(msg);
    for (const w of waiters.splice(0)) w();
  });
  await client.subscribeAsync(`$ota/update/${key}`, { qos: 1 });
  return {
    pushes,
    report: (msg: unknown) => client.publishAsync(`$ota/report/${key}`, JSON.stringify(msg), { qos: 1 }),
    /** Resolves once `n` pushes arrived. */
    async pushed(n: number) {
      const deadline = Date.now() + 10000;
      while (pushes.length < n) {
        if (Date.now() > deadline) throw new Error(`${n} pushes expected, got ${JSON.stringify(pushes)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
      return pushes[n - 1];
    },
    close: () => client.endAsync(true),
  };
}

const appVersion = (version: string, fwType = "app") => ({ type: "report_version", report: { fw_type: fwType, version } });
const fwVersion = (version: string) => ({ type: "report_version", report: { version } });
const progress = (state: string, version: string, fwType?: string) => ({
  type: "report_progress",
  report: { progress: { state, percent: "50", result_code: state === "fail" ? "-5" : "0", result_msg: "" }, version, ...(fwType ? { fw_type: fwType } : {}) },
});

/** The service and a scripted device P/d on a fresh aedes; `after` runs each step once the cloud has seen the report. */
async function rolloutBench(firmware: string, kind: "firmware" | "app", fwType?: string) {
  const broker = await startBroker("aedes");
  const service = await OtaService.start({
    brokerUrl: broker.url,
    firmware,
    kind,
    ...(fwType ? { fwType } : {}),
    sign: { key: Buffer.from(resolveBoard("host-sim").provision!.signKey!, "base64") },
    devices: ["P/d"],
    publicHost: "127.0.0.1",
    listen: "127.0.0.1",
    port: 0,
  });
  const device = await scriptedDevice(broker.url, "P/d");
  const record = service.cloud.device("P", "d");
  return {
    service,
    device,
    record,
    /** Publishes a report and waits until the cloud has recorded it. */
    async send(msg: unknown) {
      const n = record.reports.length + 1;
      await device.report(msg);
      await service.cloud.waitFor("P", "d", (d) => d.reports.length >= n, 5000, "the report");
      await new Promise((r) => setTimeout(r, 50)); // a push it answered with is on its way
    },
    async close() {
      await device.close();
      await service.close();
      await broker.close();
    },
  };
}

test("app rollout: announced with fw_type, served signed as kind app; only the app's reports count", async () => {
  const pkg = join(tmp, "app-2.0.0.pkg");
  writeFileSync(pkg, buildAppPackage(APP_JS, { version: "2.0.0", confirm: "api" }).bytes);
  const bench = await rolloutBench(pkg, "app", "ui");
  try {
    const fw = bench.service.firmware;
    assert.deepEqual([fw.type, fw.fwType, fw.version, fw.confirm, fw.signed], ["app", "ui", "2.0.0", "api", "here"]);
    // what is served: the package with a kind-app trailer for its version, as the push says
    const served = Buffer.from(await (await fetch(bench.service.host.url("P/d", 1))).arrayBuffer());
    assert.deepEqual(served, Buffer.from(fw.bytes));
    assert.deepEqual([readSigned(served).kind, readSigned(served).version], ["app", "2.0.0"]);
    assert.equal(readAppPackage(served).body, APP_JS);
    const status = () => bench.service.status("P/d");

    // a device with no application reports only its firmware: that report asks for the push again,
    // even with the app's version string it is not about the app
    await bench.send(fwVersion("2.0.0"));
    const push = await bench.device.pushed(1);
    assert.deepEqual(
      { ...push, url: undefined },
      { file_size: fw.size, md5sum: createHash("md5").update(served).digest("hex"), type: "update_firmware", url: undefined, version: "2.0.0", fw_type: "ui" },
    );
    assert.deepEqual([status().state, status().reportedVersion, bench.record.pushes.length], ["pending", null, 2]);
    // the app's report of its old version: pushed again
    await bench.send(appVersion("1.0.0", "ui"));
    assert.equal((await bench.device.pushed(2)).fw_type, "ui");
    assert.deepEqual([status().state, status().reportedVersion, bench.record.pushes.length], ["pending", "1.0.0", 3]);
    // now that it has an application, the firmware's report is not about it: no push
    await bench.send(fwVersion("2.0.0"));
    assert.deepEqual([status().state, status().reportedVersion, bench.record.pushes.length], ["pending", "1.0.0", 3]);
    // another module's report: the same
    await bench.send(appVersion("2.0.0", "other"));
    assert.deepEqual([status().state, status().reportedVersion, bench.record.pushes.length], ["pending", "1.0.0", 3]);
    // progress without fw_type is the firmware's: a "fail" there does not end the app's task
    await bench.send(progress("fail", "2.0.0"));
    assert.equal(status().state, "pending");
    await bench.send(progress("downloading", "2.0.0", "ui"));
    assert.deepEqual([status().state, status().percent], ["downloading", 50]);
    await bench.send(fwVersion("1.9.0"));
    assert.deepEqual([status().state, bench.record.pushes.length], ["downloading", 3]);
    await bench.send(appVersion("2.0.0", "ui"));
    assert.deepEqual([status().state, status().reportedVersion, status().resultCode], ["done", "2.0.0", "0"]);
    assert.deepEqual(bench.record.versions, { "": "1.9.0", other: "2.0.0", ui: "2.0.0" });
  } finally {
    await bench.close();
  }
});

test("firmware rollout: the app's reports are ignored, the firmware's decide", async () => {
  const bin = join(tmp, "fw-rollout-1.2.0.bin");
  writeFileSync(bin, buildAppImage({ version: "1.2.0", projectName: "espruino", size: 16 * 1024, seed: 9 }));
  const bench = await rolloutBench(bin, "firmware");
  try {
    const status = () => bench.service.status("P/d");
    assert.equal(bench.record.pushes[0].fw_type, undefined, "firmware is pushed without fw_type");
    // the app reporting a version string equal to the firmware's target: not the firmware
    await bench.send(appVersion("1.2.0"));
    assert.deepEqual([status().state, status().reportedVersion, bench.record.pushes.length], ["pending", null, 1]);
    await bench.send(fwVersion("1.0.0"));
    assert.deepEqual([status().state, status().reportedVersion, bench.record.pushes.length], ["pending", "1.0.0", 2]);
    // the app's progress (fw_type app) does not fail the firmware's task
    await bench.send(progress("fail", "1.2.0", "app"));
    assert.equal(status().state, "pending");
    await bench.send(progress("downloading", "1.2.0"));
    assert.deepEqual([status().state, status().percent], ["downloading", 50]);
    await bench.send(appVersion("0.5.0"));
    assert.deepEqual([status().state, status().reportedVersion, bench.record.pushes.length], ["downloading", "1.0.0", 2]);
    await bench.send(fwVersion("1.2.0"));
    assert.deepEqual([status().state, status().reportedVersion], ["done", "1.2.0"]);
  } finally {
    await bench.close();
  }
});

test("app rollout through the CLI: --app signs and announces the package, the table shows the app's version", async () => {
  const broker = await startBroker("aedes");
  const pkg = join(tmp, "cli-app.pkg");
  writeFileSync(pkg, buildAppPackage(APP_JS, { version: "3.0.0" }).bytes);
  const device = await scriptedDevice(broker.url, "P/app-1");
  try {
    const state = join(tmp, "app-state.json");
    let script: Promise<void> | undefined;
    const r = await otaCloud(
      ["serve", "--broker", broker.url, "--app", pkg, "--sign-key", keyFile, "--device", "P/app-1", "--host-ip", "127.0.0.1", "--listen", "127.0.0.1", "--port", "0", "--timeout", "30", "--state", state],
      () => {
        script = (async () => {
          const push = await device.pushed(1);
          const body = Buffer.from(await (await fetch(push.url)).arrayBuffer());
          assert.equal(createHash("md5").update(body).digest("hex"), push.md5sum);
          assert.equal(readSigned(body).kind, "app");
          await device.report(fwVersion("3.0.0")); // the firmware's version: does not end the app's task
          await new Promise((r) => setTimeout(r, 500));
          await device.report(appVersion("3.0.0"));
        })();
      },
    );
    await script;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(device.pushes[0].fw_type, "app");
    assert.equal(device.pushes[0].version, "3.0.0");
    const size = readFileSync(pkg).length + SIGN_TRAILER;
    assert.match(r.stderr, new RegExp(`^app       cli-app\\.pkg \\(fw_type app, confirm time\\): version 3\\.0\\.0, ${size} bytes .*, signed with --sign-key$`, "m"));
    const rows = rowsOf(r);
    assert.deepEqual(rows.map((x) => [x.device, x.result, x.version, x.fetched]), [["P/app-1", "done", "3.0.0", String(size)]]);
    // done only with the app's report, sent 0.5 s after the firmware's report of the same version
    assert.ok(parseFloat(rows[0].time) >= 0.5, rows[0].time);
  } finally {
    await device.close();
    await broker.close();
  }
});

test("app rollout: serve and info refuse bad --app input clearly", async () => {
  const pkg = join(tmp, "args-1.0.pkg");
  writeFileSync(pkg, buildAppPackage(APP_JS, { version: "1.0" }).bytes);
  const bin = join(tmp, "args-fw.bin");
  writeFileSync(bin, buildAppImage({ version: "1.2.0", projectName: "espruino", size: 16 * 1024, seed: 5 }));
  const state = join(tmp, "args-state.json");
  // no broker is reached: every one of these is refused before serve connects
  const serve = (...args: string[]) => otaCloud(["serve", "--broker", "mqtt://127.0.0.1:1", "--device", "P/d", "--port", "0", "--state", state, ...args]);
  const refusals: [string[], string][] = [
    [["--app", pkg, "--firmware", bin], "ota-cloud: give --firmware FILE or --app FILE, not both: one rollout at a time (see ota-cloud --help)\n"],
    [["--firmware", bin, "--fw-type", "ui", "--unsigned"], "ota-cloud: --fw-type names the application module: it goes with --app (firmware is announced without fw_type) (see ota-cloud --help)\n"],
    [["--app", pkg, "--kind", "firmware"], "ota-cloud: --app FILE rolls out an application: it contradicts --kind firmware (see ota-cloud --help)\n"],
    [["--kind", "application", "--firmware", pkg], 'ota-cloud: --kind must be firmware or app, got "application" (see ota-cloud --help)\n'],
    [["--kind", "app"], "ota-cloud: --app FILE is required (the application package to roll out) (see ota-cloud --help)\n"],
    [["--app", pkg, "--fw-type", "my app", "--unsigned"], 'ota-cloud: --fw-type must be 1..32 printable ASCII characters without spaces, got "my app"\n'],
    [["--app", pkg, "--version", "1.1", "--unsigned"], `ota-cloud: --version 1.1 differs from the version in ${pkg}'s header line (1.0); after the update the board reports 1.0 for app, so the task could never be judged done. Omit --version or build the package with that version.\n`],
    [["--app", pkg], `ota-cloud: ${pkg} is not signed and boards install only signed updates: give --sign-key FILE, sign it with \`npm run sign -- --kind app\`, or pass --unsigned for lab boards with sign.required false\n`],
    [["--firmware", pkg, "--unsigned"], `ota-cloud: ${pkg} is an application package, not firmware: serve it with --app ${pkg}\n`],
    [["--app", bin, "--unsigned"], `ota-cloud: ${bin}: not an application package: it does not start with the header line "// ota-app <version> <api|time>" (make one with \`npm run app-package\`) (it is an ESP32 app image: serve it with --firmware)\n`],
  ];
  for (const [args, stderr] of refusals) {
    const r = await serve(...args);
    assert.deepEqual([r.code, r.stderr], [2, stderr], args.join(" "));
  }
  // a package signed for another product: the tag is checked against --sign-key
  const foreign = join(tmp, "args-foreign.pkg");
  writeFileSync(foreign, signImage(Buffer.alloc(32, 7), readFileSync(pkg), "1.0", "app"));
  const other = await serve("--app", foreign, "--sign-key", keyFile);
  assert.deepEqual([other.code, other.stderr], [2, `ota-cloud: ${foreign} is signed, but not with the key given by --sign-key: boards holding that key would refuse it\n`]);
  // a firmware-signed package is refused as such
  const wrongKind = join(tmp, "args-wrong-kind.pkg");
  writeFileSync(wrongKind, signImage(Buffer.alloc(32, 7), readFileSync(pkg), "1.0", "firmware"));
  const kindRun = await serve("--app", wrongKind, "--unsigned");
  assert.deepEqual([kindRun.code, kindRun.stderr], [2, `ota-cloud: ${wrongKind}: the package is signed as kind firmware, not app: boards refuse it\n`]);

  const info = await otaCloud(["info", pkg]);
  assert.equal(info.code, 0, info.stderr);
  assert.equal(
    info.stdout,
    `file     ${pkg}\nversion  1.0\ntype     application package (serve it with --app; announced as fw_type app unless --fw-type)\nconfirm  time\n` +
      `size     ${readFileSync(pkg).length}\nmd5      ${createHash("md5").update(readFileSync(pkg)).digest("hex")}\nsigned   no (boards that require signed updates refuse it)\n`,
  );
  const signedInfo = await otaCloud(["info", foreign]);
  assert.match(signedInfo.stdout, /^signed +yes, for version 1\.0, kind app /m);
  const help = await otaCloud(["serve", "--help"]);
  assert.match(help.stdout, /^  ota-cloud serve --broker mqtt:\/\/host:1883 --app app\.pkg \[--fw-type NAME\] --sign-key FILE --device productId\/deviceName \[options\]$/m);
});

if (mosquittoAvailable()) {
  test("serve on a real mosquitto: two boards update, every byte fetched once, exit 0", async () => {
    const bench = await startBench({ dir: tmp, broker: "mosquitto", count: 2, network: good, imageBytes: 160 * 1024 });
    try {
      const r = await otaCloud(serveArgs(bench, join(tmp, "mosquitto-state.json")), () => bench.devices.forEach((d) => d.sim.powerOn()));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(
        rowsOf(r).map((x) => [x.device, x.result, x.version, x.percent, x.code, x.fetched, x.x_image, x.requests]),
        // 160 KB and the signature trailer in 64 KB spans: three Range requests, nothing fetched twice
        bench.keys.map((k) => [k, "done", "1.2.0", "100", "0", String(160 * 1024 + SIGN_TRAILER), "1.00", "3"]),
      );
      assert.match(r.stdout, /^2 devices: 2 done, 0 failed$/m);
    } finally {
      await bench.close();
    }
  });
} else if (process.env.CI) {
  test("mosquitto is installed in CI", () => {
    throw new Error("mosquitto is not on PATH: .ci/run must install it");
  });
} else {
  test("ota-cloud on mosquitto", { skip: "mosquitto is not installed (apt-get install mosquitto)" }, () => undefined);
}

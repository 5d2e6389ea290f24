// `ota-cloud` driven exactly as a user runs it (the package bin, src/host/cloud-cli/bin.js)
// against a small fleet of simulated boards: on aedes, and on a real mosquitto when it is
// installed (skipped otherwise, unless CI is set). The table it prints is read back and
// checked row by row, and so is `ota-cloud status`.
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

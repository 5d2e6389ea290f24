// The fleet simulation: one bundle for every board (it holds no identity: each board has its
// own provisioning file), a small fleet over bad links where every board still
// completes without fetching bytes twice, and `npm run sim -- --devices N --network P` as a
// user runs it.
import { test } from "node:test";
import { SIGN_TRAILER } from "../../src/core/sign/verify";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { buildBundle } from "../../src/host/build/bundle";
import { resolveBoard } from "../../src/host/sim/ota-run";
import { runFleet } from "../../src/host/sim/fleet";
import { parseResultTable } from "../../src/host/cloud/display";
import { networkProfile } from "../../src/host/sim/fleet-profiles";

test("the bundle holds no identity: boards that differ only in their provisioning run the same bundle", async () => {
  const board = resolveBoard("host-sim");
  const p = board.provision!;
  const base = await buildBundle(board);
  const other = await buildBundle({ ...board, provision: { ...p, deviceName: "fleet-0042", deviceSecret: "b3RoZXItc2VjcmV0" } });
  assert.deepEqual(other, base);
  for (const secret of [p.productId, p.deviceName, p.deviceSecret!, p.signKey!]) assert.ok(!(base.boot + base.job).includes(secret), `the agent's code contains ${secret}`);
});

test("a fleet over lossy downloads: every board completes, resumes keep the bytes received at about one image each", async () => {
  const imageBytes = 96 * 1024;
  // lossy downloads (a third cut, stalls, 96 KB/s) but no timed MQTT drops: one of those inside
  // host-sim's 3 s trial window may roll a healthy image back, so the outcome would depend on timing
  const lossy = networkProfile("lossy");
  const network = { ...lossy, mqtt: { ...lossy.mqtt, dropMeanMs: 0 } };
  const r = await runFleet({ devices: 6, network, imageSize: imageBytes - SIGN_TRAILER, seed: 3, timeoutMs: 60000 });
  assert.equal(r.imageBytes, imageBytes, "the served file: the image and its signature trailer");
  assert.equal(r.completed, 6, JSON.stringify(r.statuses.filter((s) => s.state !== "done")));
  assert.equal(r.failed, 0);
  assert.equal(r.unfinished, 0);
  // the links really misbehaved...
  assert.ok(r.links.cuts + r.links.stalls > 0, JSON.stringify(r.links));
  // ...yet the boards received each byte about once: what they got beyond the images is HTTP headers
  assert.ok(r.bytesFetched >= 6 * imageBytes);
  assert.ok(r.bytesReceived >= 6 * imageBytes);
  const headers = r.bytesReceived - 6 * imageBytes;
  const requests = r.statuses.reduce((n, s) => n + s.requests, 0);
  assert.ok(headers <= requests * 400, `${headers} bytes beyond the images for ${requests} requests`);
  for (const s of r.statuses) {
    assert.equal(s.state, "done");
    assert.equal(s.reportedVersion, "1.1.0");
    assert.ok(s.bytes >= imageBytes);
  }
});

test("npm run sim -- --devices 4 --network good prints the table and the summary", () => {
  // "good": the profiles with timed MQTT drops could, rarely, roll a board back in host-sim's short trial window
  const p = spawnSync(process.execPath, ["--import", "tsx", "src/host/sim/main.ts", "--devices", "4", "--network", "good", "--size", "65536"], { encoding: "utf8", timeout: 60000 });
  assert.equal(p.status, 0, p.stdout + p.stderr);
  const rows = parseResultTable(p.stdout);
  assert.deepEqual(
    rows.map((x) => [x.device, x.result, x.version]),
    ["0001", "0002", "0003", "0004"].map((n) => [`SIMPRODUCT/fleet-${n}`, "done", "1.1.0"]),
  );
  assert.match(p.stdout, /^fleet +4 simulated boards, network good/m);
  assert.match(p.stdout, /^completed +4$/m);
  assert.match(p.stdout, /^failed +0$/m);
  // a clean network: every byte served once
  assert.match(p.stdout, /^fetched +262464 bytes served = 1\.0000 x \(4 x image\)$/m, "4 x (65536 + the 80-byte signature trailer)");
  assert.match(p.stdout, /^link faults +0 downloads cut, 0 stalled, 0 MQTT drops/m);
  assert.match(p.stdout, /^time +\d+\.\d s$/m);

  const bad = spawnSync(process.execPath, ["--import", "tsx", "src/host/sim/main.ts", "--devices", "2", "--network", "satellite"], { encoding: "utf8", timeout: 30000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--network must be one of good, weak, lossy, got "satellite"/);
});

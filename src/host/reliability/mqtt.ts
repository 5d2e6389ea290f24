// MQTT faults: the broker going away and coming back, a link that dies silently (only the
// keepalive can tell), pushes duplicated, stale or replaced, and messages on topics the
// agent must not act on. Downloads are slowed with a trickle where a fault has to land
// while the download is still running.
import { simProvision } from "../boards/load-board";
import type { BoardConfig } from "../../core/board";
import { buildBundle } from "../build/bundle";
import type { AgentCode } from "../build/install";
import { buildAppImage } from "../image/app-image-builder";
import { freePort, mosquittoAvailable, type BrokerKind } from "../sim/broker";
import { resolveBoard, signedFile } from "../sim/ota-run";
import { SIGN_TRAILER } from "../../core/sign/verify";
import { HAPPY, HAPPY_RECONNECTED, IMAGE, nothingFetchedTwice, updateScenario } from "./common";
import { md5Hex, sleep, withHarness, type Harness } from "./harness";
import { startMqttProxy, type MqttProxy } from "./mqtt-proxy";
import type { Expected, Scenario } from "./types";

/** Routes the board's MQTT traffic through a proxy (before the first power-on). */
async function viaProxy(h: Harness): Promise<MqttProxy> {
  const proxy = await startMqttProxy(h.run.broker.port);
  const m = h.board.mqtt;
  h.run.sim.addRoute({ host: m.host, port: m.port, realPort: proxy.port });
  h.onClose(() => proxy.close());
  return proxy;
}

const logHas = (h: Harness, re: RegExp) => h.run.sim.device.log.some((l) => re.test(l));

/** host-sim with the shortest keepalive the board schema allows (10 s), so a silent link is noticed within about 15 s. */
let shortKeepalive: Promise<{ board: BoardConfig; bundle: AgentCode }> | null = null;
function shortKeepaliveBoard(): Promise<{ board: BoardConfig; bundle: AgentCode }> {
  if (!shortKeepalive) {
    const b = resolveBoard("host-sim");
    const board: BoardConfig = { ...b, mqtt: { ...b.mqtt, keepaliveSec: 10 } };
    shortKeepalive = buildBundle(board).then((bundle) => ({ board, bundle }));
  }
  return shortKeepalive;
}

function brokerRestart(broker: BrokerKind, quick: boolean): Scenario {
  return updateScenario({
    id: "mqtt-broker-restart-" + broker,
    name: `broker (${broker}) stops for 0.8 s a fifth of the way into the download`,
    group: "mqtt",
    quick,
    harness: { broker },
    expected: {
      outcome: "done",
      story: HAPPY_RECONNECTED,
      runs: "1.1.0",
      notes: "the download does not notice; the agent reconnects, reports its version (the cloud pushes the same update again, which only refreshes the URL) and its progress reports resume",
    },
    // about 6 s of download, so the broker is back (and the agent reconnected) well before its end
    before: (h) => h.run.server.faults.every({ kind: "trickle", pieceBytes: 2048, delayMs: 60 }),
    during: (h) =>
      h.run.watch.whenSlotReaches(IMAGE / 5, () => {
        void h.run.broker.stop().then(() => sleep(800).then(() => h.run.broker.start()));
      }),
    after: (h) => {
      h.check(logHas(h, /mqtt down/), "the agent never saw the broker go away");
      h.check(h.run.server.requests.length === 3, `the download was disturbed: ${h.run.server.requests.length} requests`);
      nothingFetchedTwice(h);
    },
  });
}

export function mqttScenarios(): Scenario[] {
  const group = "mqtt" as const;
  const list: Scenario[] = [brokerRestart("aedes", true)];
  if (mosquittoAvailable()) list.push(brokerRestart("mosquitto", false));
  list.push(
    updateScenario({
      id: "mqtt-broker-down-at-boot",
      name: "broker unreachable from the board when it boots, reachable 1.5 s later",
      group,
      expected: { outcome: "done", story: HAPPY, runs: "1.1.0", notes: "connect retries with backoff; the update then runs normally" },
      // Only the board's way to the broker is cut: stopping the broker itself would also drop the
      // cloud's connection, and a cloud that comes back after the board misses its report_version.
      before: async (h) => {
        const m = h.board.mqtt;
        // a later route for the same host and port wins, at boot too
        h.run.sim.addRoute({ host: m.host, port: m.port, realPort: await freePort() });
        setTimeout(() => h.run.sim.addRoute({ host: m.host, port: m.port, realPort: h.run.broker.port }), 1500);
      },
      after: (h) => h.check(logHas(h, /^ota: mqtt down/), "the board never failed to reach the broker: the scenario did not test what it says"),
    }),
    updateScenario({
      id: "mqtt-keepalive-loss",
      name: "the MQTT link turns into a black hole early in the download (keepalive 10 s)",
      group,
      timeoutSec: 120,
      harness: async () => shortKeepaliveBoard(),
      expected: {
        outcome: "done",
        story: HAPPY_RECONNECTED,
        runs: "1.1.0",
        notes: "no PINGRESP: the agent drops the dead link, reconnects and resumes reporting; the download is not disturbed",
      },
      before: async (h) => {
        h.scratch.proxy = await viaProxy(h);
        // about 21 s of download: the silent link is noticed after 15 s (keepalive + half of it)
        h.run.server.faults.every({ kind: "trickle", pieceBytes: 1024, delayMs: 110 });
      },
      during: (h) => h.run.watch.whenSlotReaches(4096, () => (h.scratch.proxy as MqttProxy).freeze()),
      waitMs: 80000,
      after: (h) => {
        h.check((h.scratch.proxy as MqttProxy).connections() >= 2, "the agent never opened a new connection");
        h.check(logHas(h, /keepalive/), "the agent did not notice the silent link by its keepalive");
        h.check(h.run.server.requests.length === 3, `the download was disturbed: ${h.run.server.requests.length} requests`);
        nothingFetchedTwice(h);
      },
    }),
    updateScenario({
      id: "mqtt-duplicate-push",
      name: "update_firmware delivered twice at once",
      group,
      quick: true,
      expected: { outcome: "done", story: HAPPY, runs: "1.1.0", notes: "the same (version, md5, size) only refreshes the URL: one download" },
      during: (h) => h.sendRaw(h.pushText(h.lastOffer!)),
      after: (h) => nothingFetchedTwice(h),
    }),
    updateScenario({
      id: "mqtt-duplicate-mid-download",
      name: "the same update_firmware twice more, a third of the way in",
      group,
      expected: { outcome: "done", story: HAPPY, runs: "1.1.0", notes: "no restart, nothing fetched twice" },
      before: (h) => h.run.server.faults.every({ kind: "trickle", pieceBytes: 2048, delayMs: 10 }),
      during: (h) =>
        h.run.watch.whenSlotReaches(IMAGE / 3, () => {
          h.sendRaw(h.pushText(h.lastOffer!));
          h.sendRaw(h.pushText(h.lastOffer!));
        }),
      after: (h) => {
        h.check(!logHas(h, /downloading --update-->/), "the duplicate started a new job");
        nothingFetchedTwice(h);
      },
    }),
    updateScenario({
      id: "mqtt-stale-push-running-version",
      name: "out of order: a stale push for the running version arrives mid-download",
      group,
      quick: true,
      expected: {
        outcome: "done",
        story: HAPPY_RECONNECTED,
        runs: "1.1.0",
        notes: "answered with report_version only (the cloud then pushes the current task again); the download goes on",
      },
      before: (h) => h.run.server.faults.every({ kind: "trickle", pieceBytes: 2048, delayMs: 10 }),
      during: (h) => h.run.watch.whenSlotReaches(IMAGE / 3, () => h.sendRaw(h.pushText({ ...h.lastOffer!, version: "1.0.0", md5: "00112233445566778899aabbccddeeff" }))),
      after: (h) => nothingFetchedTwice(h),
    }),
    updateScenario({
      id: "mqtt-stale-push-after-done",
      name: "out of order: the finished update's push arrives again at the new image",
      group,
      expected: { outcome: "done", story: [...HAPPY, "version 1.1.0"], runs: "1.1.0", notes: "already running it: report_version, no second download" },
      after: async (h) => {
        const before = h.run.server.requests.length;
        h.sendRaw(h.pushText(h.lastOffer!));
        await h.waitFor((d) => d.reports.filter((r) => r.type === "report_version").length >= 3, 10000, "the answer to the stale push");
        await sleep(300);
        h.check(h.run.server.requests.length === before, "the stale push started a download");
      },
    }),
    differentUpdate(),
    unexpectedTopics(),
  );
  return list;
}

function differentUpdate(): Scenario {
  const expected: Expected = {
    outcome: "done",
    storyVersions: true,
    story: ["version 1.0.0", "downloading 0 @1.1.0", "downloading 0 @1.2.0", "downloading 100 @1.2.0", "burning @1.2.0", "version 1.2.0", "done @1.2.0"],
    runs: "1.2.0",
    notes: "the old job is dropped at once, the new one starts from byte 0 (nothing of 1.1.0 is merged)",
  };
  return {
    id: "mqtt-different-update",
    name: "a different update (1.2.0) replaces the one in progress",
    group: "mqtt",
    quick: true,
    expected,
    run: (ctx) => {
      const next = signedFile(resolveBoard(undefined), buildAppImage({ version: "1.2.0", projectName: "espruino", size: IMAGE - 4096 - SIGN_TRAILER, seed: ctx.seed + 99 }), "1.2.0", undefined);
      return withHarness(
        { seed: ctx.seed, extraImages: [next] },
        expected,
        async (h) => {
          h.run.server.setFile("/next.bin", next);
          h.run.server.faults.every({ kind: "trickle", pieceBytes: 2048, delayMs: 10 });
          await h.powerOn();
          h.deploy();
          h.run.watch.whenSlotReaches(IMAGE / 3, () => h.deploy(h.offer({ version: "1.2.0", md5: md5Hex(next), size: next.length, path: "/next.bin" })));
          await h.waitEnded("1.2.0", 45000);
          await sleep(150);
          h.check(Buffer.from(h.slotBytes("ota_1", next.length)).equals(Buffer.from(next)), "ota_1 does not hold 1.2.0 byte for byte");
        },
        { version: "1.2.0" },
      );
    },
  };
}

function unexpectedTopics(): Scenario {
  const expected: Expected = {
    outcome: "done",
    story: HAPPY,
    runs: "1.1.0",
    log: /message on unexpected topic \$ota\/update\/SIMPRODUCT\/sim-device-2 ignored/,
    notes: "each is logged and ignored (nothing downloaded); a normal update afterwards completes",
  };
  return {
    id: "mqtt-unexpected-topics",
    name: "valid update_firmware pushes injected on five topics the agent does not own",
    group: "mqtt",
    quick: true,
    expected,
    run: (ctx) =>
      withHarness({ seed: ctx.seed }, expected, async (h) => {
        const proxy = await viaProxy(h);
        await h.powerOn();
        const m = simProvision(h.board);
        const push = h.pushText(h.offer());
        const topics = [
          `$ota/update/${m.productId}/sim-device-2`,
          `$ota/update/OTHERPRODUCT/${m.deviceName}`,
          `$ota/update/${m.productId}/${m.deviceName}/extra`,
          `$ota/report/${m.productId}/${m.deviceName}`,
          `$thing/down/property/${m.productId}/${m.deviceName}`,
        ];
        for (const t of topics) h.check(proxy.inject(t, push) === 1, "could not inject on " + t);
        const ignored = () => h.run.sim.device.log.filter((l) => /message on unexpected topic/.test(l)).length;
        const until = Date.now() + 3000;
        while (ignored() < topics.length && Date.now() < until) await sleep(20);
        await sleep(300);
        h.check(ignored() === topics.length, `${ignored()} of ${topics.length} injected messages were logged as unexpected`);
        h.check(h.run.server.requests.length === 0, "an injected push started a download");
        h.deploy();
        await h.waitEnded();
        await sleep(150);
      }),
  };
}

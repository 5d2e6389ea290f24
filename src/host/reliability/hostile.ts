// Hostile inputs: payloads on the update topic (cloud.sendRaw), images that must never be
// installed, and board files that must never build. Each payload gets a clear error in the
// device log; an update_firmware whose version is readable is answered with a fail report
// for that version (the platform task ends with the reason instead of hanging), one whose
// version is not cannot be addressed and is only logged. Either way the agent keeps
// running: a normal update pushed afterwards in the same run must complete, and flash
// outside target slot, otadata and journal is never touched.
// Signed updates (docs/security.md): files that are unsigned, signed with another key, signed
// for another version, kind or size, with a cut or padded trailer, or a signed downgrade are
// downloaded and refused with fail -4 naming the check, otadata untouched.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BOARDS_DIR, BoardError, validateBoard } from "../boards/load-board";
import { buildAppImage } from "../image/app-image-builder";
import { signedFile } from "../sim/ota-run";
import { ATTACKER_KEY } from "../sim/attacks";
import { makeTrailer, KIND_CODES } from "../sign/trailer";
import { emptyCounts } from "./invariants";
import { md5Hex, sleep, withHarness, type Harness } from "./harness";
import type { Expected, Observed, Scenario } from "./types";

/** The version every hostile push names (never the running one, never the real update). */
const HOSTILE = "6.6.6";
const SMALL_IMAGE = 96 * 1024;

type Payload = string | Buffer;

interface HostileCase {
  id: string;
  name: string;
  payload: (h: Harness) => Payload;
  /** Refused with fail `code` (default -5) for the case's version (it is readable); otherwise only logged. */
  fails?: boolean;
  code?: "-4" | "-5";
  /** The version the push names (default 6.6.6). */
  version?: string;
  /** The error text (result_msg of the fail, or the device log line when ignored). */
  error: RegExp;
  /** The image is fetched before it is refused (the download starts, reports 0 %). */
  downloads?: boolean;
  /** Reaches 100 % before it is refused (refused by the final image check). */
  downloadsAll?: boolean;
  /** Too big for the MQTT client's packet buffer: the link is dropped and re-established (one more report_version). */
  reconnects?: boolean;
  /** Checks made once the hostile input was dealt with (before the normal update). */
  after?: (h: Harness) => void;
  quick?: boolean;
}

/** A valid push of the run's 96 KB image as 6.6.6, with `over` applied (undefined deletes). */
function push(h: Harness, over: Record<string, unknown> = {}): string {
  const m: Record<string, unknown> = { file_size: h.run.image.length, md5sum: md5Hex(h.run.image), type: "update_firmware", url: h.run.server.url("/fw.bin"), version: HOSTILE };
  for (const k of Object.keys(over)) {
    if (over[k] === undefined) delete m[k];
    else m[k] = over[k];
  }
  return JSON.stringify(m);
}

/** A push of `bytes` published at /evil.bin with its true MD5 and size. */
function serve(h: Harness, bytes: Uint8Array, version = HOSTILE): string {
  h.run.server.setFile("/evil.bin", bytes);
  return push(h, { url: h.run.server.url("/evil.bin"), md5sum: md5Hex(bytes), file_size: bytes.length, version });
}

/** `image` signed with the product's key, as a release would be: the image checks still apply. */
const signed = (h: Harness, image: Uint8Array, version = HOSTILE) => signedFile(h.board, image, version, undefined);
const hostileImage = (version = HOSTILE, seed = 8) => buildAppImage({ version, projectName: "espruino", size: SMALL_IMAGE, seed });
const productKey = (h: Harness) => Buffer.from(h.board.provision!.signKey!, "base64");

/** A downloaded file refused by the signature check: fail -4 naming it, otadata untouched. */
function signCase(id: string, name: string, file: (h: Harness) => Uint8Array, error: RegExp, version = HOSTILE, quick = false): HostileCase {
  return { id: "sign-" + id, name, fails: true, code: "-4", version, downloadsAll: true, quick, payload: (h) => serve(h, file(h), version), error, after: noSwitch };
}

function expectedFor(c: HostileCase): Expected {
  const v = c.version ?? HOSTILE;
  const s = ["version 1.0.0"];
  if (c.reconnects) s.push("version 1.0.0");
  if (c.downloads || c.downloadsAll) s.push("downloading 0 @" + v);
  if (c.downloadsAll) s.push("downloading 100 @" + v);
  if (c.fails) s.push("fail " + (c.code ?? "-5") + " @" + v);
  s.push("downloading 0 @1.1.0", "downloading 100 @1.1.0", "burning @1.1.0", "version 1.1.0", "done @1.1.0");
  return {
    outcome: c.fails ? "failed" : "ignored",
    code: c.fails ? c.code ?? "-5" : undefined,
    msg: c.fails ? c.error : undefined,
    log: c.fails ? undefined : c.error,
    story: s,
    storyVersions: true,
    runs: "1.1.0",
    thenUpdates: true,
    notes: c.fails
      ? "fail " + (c.code ?? "-5") + " for " + v + " naming the problem; the board stays on 1.0.0; then a normal update completes"
      : c.reconnects
        ? "the MQTT client refuses a packet over its buffer and reconnects (clean session: the packet is gone); then a normal update completes"
        : "logged and ignored (no version to report against); then a normal update completes",
  };
}

function hostileScenario(c: HostileCase): Scenario {
  const expected = expectedFor(c);
  const v = c.version ?? HOSTILE;
  return {
    id: "hostile-" + c.id,
    name: c.name,
    group: "hostile-input",
    quick: c.quick,
    expected,
    run: (ctx) =>
      withHarness(
        { seed: ctx.seed, imageSize: SMALL_IMAGE },
        expected,
        async (h) => {
          await h.powerOn();
          h.sendRaw(c.payload(h));
          const answered = () =>
            h.record.reports.some((r) => r.report?.version === v && r.report.progress?.state === "fail") ||
            h.run.sim.device.log.some((l) => c.error.test(l) || /bad message ignored|ignored|unexpected/.test(l));
          const until = Date.now() + (c.downloads || c.downloadsAll ? 15000 : 3000);
          while (!answered() && Date.now() < until) await sleep(20);
          await sleep(200);
          c.after?.(h);
          h.check(h.run.sim.device.running, "the agent is not running after the hostile input");
          h.deploy();
          try {
            const d = await h.waitEnded("1.1.0", 30000);
            h.thenUpdated = d.reports.some((r) => r.report?.version === "1.1.0" && r.report.progress?.state === "done");
          } catch (e) {
            h.thenUpdated = false;
          }
          await sleep(100);
        },
        { version: v },
      ),
  };
}

/** The target slot and otadata are exactly as they left the factory. */
function nothingWritten(h: Harness): void {
  h.check(h.slotUntouched("ota_1"), "the target slot was erased or written before the image was refused");
  h.check(h.slotUntouched("otadata"), "otadata changed");
}

function noSwitch(h: Harness): void {
  h.check(h.slotUntouched("otadata"), "otadata changed: a refused image was switched to");
}

const payloadCases: HostileCase[] = [
  // no readable version: logged only
  { id: "malformed-json", name: "malformed JSON (cut off mid-object)", quick: true, payload: () => '{"type":"update_firmware","version":"6.6.6",', error: /bad message ignored: MSG_INVALID: payload is not valid JSON/ },
  { id: "empty-payload", name: "empty payload", payload: () => "", error: /bad message ignored: MSG_INVALID: payload is not valid JSON/ },
  { id: "json-array", name: "a JSON array instead of an object", payload: () => "[1,2,3]", error: /bad message ignored: MSG_INVALID: payload must be a JSON object, got an array/ },
  { id: "json-string", name: "a JSON string instead of an object", payload: () => '"update_firmware"', error: /bad message ignored: MSG_INVALID: payload must be a JSON object/ },
  { id: "json-null", name: "JSON null", payload: () => "null", error: /bad message ignored: MSG_INVALID: payload must be a JSON object, got null/ },
  { id: "invalid-utf8", name: "bytes that are not UTF-8", payload: () => Buffer.from([0xff, 0xfe, 0x7b, 0x22, 0xc3, 0x28, 0x80, 0x7d]), error: /bad message ignored: MSG_INVALID/ },
  { id: "deep-nesting", name: "2000 nested arrays (parser stack exhaustion)", quick: true, payload: () => "[".repeat(2000) + "]".repeat(2000), error: /bad message ignored: MSG_INVALID: payload nests deeper than/ },
  { id: "long-payload", name: "a 6 KB update_firmware (over the message limit, within the MQTT packet limit)", payload: (h) => push(h, { padding: "x".repeat(6000) }), error: /bad message ignored: MSG_INVALID: payload is \d+ characters, over the limit/ },
  { id: "huge-payload", name: "a 100 KB payload (over the MQTT packet limit)", reconnects: true, payload: (h) => push(h, { padding: "x".repeat(100000) }), error: /packet of \d+ bytes exceeds limit/ },
  { id: "missing-type", name: "update_firmware fields without a type", payload: (h) => push(h, { type: undefined }), error: /bad message ignored: MSG_INVALID: type is missing/ },
  { id: "type-number", name: "type is a number", payload: (h) => push(h, { type: 7 }), error: /bad message ignored: MSG_INVALID: type must be a string/ },
  { id: "unknown-type", name: "an unknown message type", payload: (h) => push(h, { type: "reboot_now" }), error: /unknown message type "reboot_now"/ },
  { id: "missing-version", name: "update_firmware without a version", payload: (h) => push(h, { version: undefined }), error: /bad message ignored: MSG_INVALID: version is missing/ },
  { id: "version-number", name: "version is a number", payload: (h) => push(h, { version: 110 }), error: /bad message ignored: MSG_INVALID: version must be a string/ },
  { id: "version-overlong", name: "a 200-character version", payload: (h) => push(h, { version: "9".repeat(200) }), error: /bad message ignored: MSG_INVALID: version is 200 characters, over the limit/ },
  { id: "version-control-char", name: "a version with a control character", payload: (h) => push(h, { version: "6.6\u0000.6" }), error: /bad message ignored: MSG_INVALID: version contains a control character/ },
  { id: "rsp-garbage", name: "report_version_rsp with a non-numeric result_code", payload: () => '{"type":"report_version_rsp","result_code":"abc","result_msg":"x"}', error: /^ota: report_version_rsp$|bad message ignored: MSG_INVALID: result_code/ },
  // readable version, unusable fields: fail -5 naming the field
  { id: "missing-url", name: "update_firmware without a url", fails: true, payload: (h) => push(h, { url: undefined }), error: /url is missing/ },
  { id: "url-array", name: "url is an array", fails: true, payload: (h) => push(h, { url: ["http://a/b"] }), error: /url must be a string/ },
  { id: "url-ftp", name: "an ftp:// URL", fails: true, quick: true, payload: (h) => push(h, { url: "ftp://127.0.0.1:" + h.run.server.port + "/fw.bin" }), error: /url must start with http:\/\/ or https:\/\// },
  { id: "url-file", name: "a file:///etc/passwd URL", fails: true, payload: (h) => push(h, { url: "file:///etc/passwd" }), error: /url must start with http:\/\/ or https:\/\// },
  { id: "url-javascript", name: "a javascript: URL", fails: true, payload: (h) => push(h, { url: "javascript:alert(1)" }), error: /url must start with http:\/\/ or https:\/\// },
  { id: "url-overlong", name: "a 3000-character URL", fails: true, payload: (h) => push(h, { url: "http://127.0.0.1/" + "a".repeat(2983) }), error: /url is 3000 characters, over the limit/ },
  { id: "url-crlf", name: "a URL with CR LF (header injection)", fails: true, payload: (h) => push(h, { url: h.run.server.url("/fw.bin") + "\r\nX-Injected: 1" }), error: /url contains a space or control character/ },
  { id: "url-bad-port", name: "a URL with port 99999", fails: true, downloads: true, after: nothingWritten, payload: (h) => push(h, { url: "http://127.0.0.1:99999/fw.bin" }), error: /url has a bad port/ },
  { id: "missing-md5", name: "update_firmware without md5sum", fails: true, payload: (h) => push(h, { md5sum: undefined }), error: /md5sum is missing/ },
  { id: "md5-non-hex", name: "a 32-character md5sum that is not hex", fails: true, quick: true, payload: (h) => push(h, { md5sum: "zz" + "0".repeat(30) }), error: /md5sum has a non-hex character/ },
  { id: "md5-short", name: "a 31-character md5sum", fails: true, payload: (h) => push(h, { md5sum: "0".repeat(31) }), error: /md5sum must be 32 hex characters/ },
  { id: "size-negative", name: "file_size -1", fails: true, payload: (h) => push(h, { file_size: -1 }), error: /file_size must be greater than 0/ },
  { id: "size-zero", name: "file_size 0 (a zero-length image)", fails: true, quick: true, payload: (h) => push(h, { file_size: 0 }), error: /file_size must be greater than 0/ },
  { id: "size-huge", name: "file_size 1e20", fails: true, payload: (h) => push(h, { file_size: 1e20 }), error: /file_size is \S+ bytes, over the limit/ },
  { id: "size-20-digits", name: "file_size as a 20-digit string", fails: true, payload: (h) => push(h, { file_size: "99999999999999999999" }), error: /file_size has more than 15 digits/ },
  { id: "size-fraction", name: "file_size 1.5", fails: true, payload: (h) => push(h, { file_size: 1.5 }), error: /file_size must be an integer/ },
  { id: "size-over-slot", name: "file_size larger than the slot (2 MB)", fails: true, quick: true, payload: (h) => push(h, { file_size: 2 * 1024 * 1024 }), error: /does not fit ota_1/, after: nothingWritten },
  { id: "task-id-object", name: "task_id is an object", fails: true, payload: (h) => push(h, { task_id: { a: 1 } }), error: /task_id must be a number or a string/ },
  // images that must never be installed
  {
    id: "image-other-chip",
    name: "an image built for another chip (ESP32-C3), served with its true MD5",
    fails: true,
    downloads: true,
    quick: true,
    payload: (h) => serve(h, signed(h, buildAppImage({ version: HOSTILE, projectName: "espruino", size: SMALL_IMAGE, chip: "esp32c3", seed: 5 }))),
    error: /IMG_CHIP/,
    after: nothingWritten,
  },
  {
    id: "image-html",
    name: "an HTML error page served as the firmware, with its true MD5",
    fails: true,
    downloads: true,
    payload: (h) => serve(h, signed(h, new Uint8Array(Buffer.from("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n".repeat(8))))),
    error: /IMG_MAGIC/,
    after: nothingWritten,
  },
  {
    id: "image-truncated",
    name: "a truncated image (first 60 KB of a valid one), with its true MD5",
    fails: true,
    downloadsAll: true,
    quick: true,
    payload: (h) => serve(h, signed(h, buildAppImage({ version: HOSTILE, projectName: "espruino", size: SMALL_IMAGE, seed: 6 }).slice(0, 60 * 1024))),
    error: /IMG_TRUNCATED|IMG_CHECKSUM|IMG_SEGMENTS/,
    after: noSwitch,
  },
  {
    id: "image-corrupt-byte",
    name: "an image with one flipped byte, with the MD5 of the flipped file",
    fails: true,
    downloadsAll: true,
    payload: (h) => {
      const img = buildAppImage({ version: HOSTILE, projectName: "espruino", size: SMALL_IMAGE, seed: 7 });
      img[40000] ^= 0x10;
      return serve(h, signed(h, img));
    },
    error: /IMG_CHECKSUM|IMG_SHA256/,
    after: noSwitch,
  },
  // signed updates: what a man in the middle (or a mistake) can serve with its true MD5
  signCase("unsigned", "an unsigned image", () => hostileImage(), /^signature check failed: unsigned \(no signature trailer\)$/),
  signCase("wrong-key", "an image signed with another key", (h) => signedFile(h.board, hostileImage(), HOSTILE, { key: ATTACKER_KEY }), /^signature check failed: bad tag/, HOSTILE, true),
  signCase("other-version", "a genuine file signed for 6.6.7, pushed as 6.6.6", (h) => signedFile(h.board, hostileImage(), "6.6.7", undefined), /^signature check failed: wrong version \(signed 6\.6\.7, pushed 6\.6\.6\)$/),
  signCase(
    "version-edited",
    "a genuine 6.6.7 file whose trailer version was edited to 6.6.6",
    (h) => {
      const f = Buffer.from(signedFile(h.board, hostileImage(), "6.6.7", undefined));
      f[f.length - 80 + 8 + 4] = "6".charCodeAt(0);
      return f;
    },
    /^signature check failed: bad tag/,
  ),
  signCase("other-kind", "a genuine application package (kind app) pushed as firmware", (h) => signedFile(h.board, hostileImage(), HOSTILE, { kind: "app" }), /^signature check failed: wrong kind 1 \(expected 0\)$/),
  signCase(
    "other-size",
    "a trailer signed with the product's key for another image size",
    (h) => {
      const img = hostileImage();
      return Buffer.concat([img, makeTrailer(productKey(h), img, { kind: KIND_CODES.firmware, version: HOSTILE, imageSize: img.length + 16 })]);
    },
    /^signature check failed: wrong size \(signed for \d+ bytes, image has \d+\)$/,
  ),
  signCase("truncated-trailer", "a signed file whose last 8 bytes are cut off", (h) => signed(h, hostileImage()).subarray(0, SMALL_IMAGE + 72), /^signature check failed: truncated trailer \(72 bytes, expected 80\)$/),
  signCase("oversized-trailer", "a signed file with 16 bytes appended", (h) => Buffer.concat([signed(h, hostileImage()), Buffer.alloc(16)]), /^signature check failed: oversized trailer \(96 bytes, expected 80\)$/),
  signCase("downgrade", "a correctly signed older version (0.9.0, the board runs 1.0.0)", (h) => signed(h, hostileImage("0.9.0"), "0.9.0"), /^signature check failed: downgrade from 1\.0\.0 to 0\.9\.0$/, "0.9.0", true),
];

/** Board files are validated before any build: an overlap must fail with file, field and reason. */
function boardScenario(id: string, name: string, mutate: (raw: any) => void, error: RegExp, notes: string): Scenario {
  const expected: Expected = { outcome: "board-error", msg: error, notes };
  return {
    id: "hostile-board-" + id,
    name,
    group: "hostile-input",
    quick: true,
    expected,
    run: async (): Promise<Observed> => {
      const file = join(BOARDS_DIR, "host-sim.json");
      const raw = JSON.parse(readFileSync(file, "utf8"));
      mutate(raw);
      const base: Observed = { outcome: "ignored", story: [], problems: [], facts: [], metrics: {}, invariants: emptyCounts(), logTail: [] };
      try {
        validateBoard(raw, "boards/host-sim.json");
        base.problems.push("the board was accepted");
      } catch (e) {
        if (e instanceof BoardError) {
          base.outcome = "board-error";
          base.msg = e.message;
        } else {
          base.outcome = "crashed";
          base.problems.push("threw something other than a BoardError: " + String(e));
        }
      }
      return base;
    },
  };
}

export function hostileScenarios(): Scenario[] {
  return [
    ...payloadCases.map(hostileScenario),
    boardScenario(
      "overlap",
      "a board file whose ota_1 overlaps ota_0",
      (raw) => {
        raw.partitionTable.partitions.find((p: any) => p.label === "ota_1").offset = "0x100000";
      },
      /boards\/host-sim\.json: invalid board file[\s\S]*"ota_1" \(0x100000\.\.0x280000\) overlaps partition "ota_0"/,
      "BoardError naming the file, the field, both partitions and their ranges",
    ),
    boardScenario(
      "journal-in-slot",
      "a board file whose journal lies inside an app slot",
      (raw) => {
        raw.journal.offset = "0x190000";
      },
      /\/journal: lies in partition "ota_1"/,
      "BoardError naming the file, the journal field and the partition it lies in",
    ),
  ];
}

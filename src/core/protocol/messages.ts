// Tencent IoT Hub OTA messages, device side (docs/tencent-protocol.md).
//
// Inbound ($ota/update/<product>/<device>): parseDownMessage validates everything the
// agent will later act on, so the downloader never sees a half-checked URL or size.
// Every malformed field throws otaError("MSG_INVALID", ...) with a message that starts
// with the JSON field name, so a log line alone says which field of which push was wrong.
// No regular expressions: Espruino lacks {n} quantifiers, and a char loop is cheap.
// Outbound ($ota/report/<product>/<device>): the builders write the JSON text by hand,
// in the exact key order of the platform documentation (DOCS 1081/39359), compact,
// with percent and result_code as strings like every official SDK. Fixtures in
// test/fixtures/tencent hold the bytes.
//
// Memory (docs/espruino-runtime.md): each function costs JsVars on the board even with its
// code in flash, so the parser is one function whose two helpers are created only while it
// runs, and every outbound message has one builder (otaReport).

import { otaError } from "../errors";
import { quoteJson } from "./json-text";

export interface MessageLimits {
  maxUrlLength: number;
  maxVersionLength: number;
  maxFileSize: number;
}

/** Fields a v2 (IoT Explorer) push carries that every progress report must echo. */
export interface Echo {
  taskId?: number | string;
  fwType?: string;
}

export interface UpdateFirmware extends Echo {
  type: "update_firmware";
  version: string;
  url: string;
  /** Lowercase, 32 hex characters. */
  md5: string;
  fileSize: number;
  /** Set by the agent on the update in progress when a push for the other kind waited meanwhile (docs/app-ota.md). */
  waited?: boolean;
}

export interface ReportVersionRsp {
  type: "report_version_rsp";
  resultCode: number;
  resultMsg: string;
  version?: string;
}

export interface IgnoredMessage {
  type: "ignored";
  reason: string;
}

export type DownMessage = UpdateFirmware | ReportVersionRsp | IgnoredMessage;

/** An invalid update_firmware whose version is readable, so the agent can report fail for it. */
export interface InvalidUpdate extends Error {
  version?: string;
}

/** The JSON object being read (the parsed payload). */
type JsonObject = { [key: string]: unknown };

/**
 * Parses and validates one $ota/update payload. Unknown message types are returned as
 * { type: "ignored" } (the platform may add types); anything malformed throws
 * otaError("MSG_INVALID", "<field> ..."). An update_firmware whose version is readable but
 * whose url, md5sum, file_size or task_id is not carries that version on the error
 * (InvalidUpdate).
 */
export function parseDownMessage(payload: string, limits: MessageLimits): DownMessage {
  let obj: JsonObject = {};

  /** Short human description of a JSON value, for error messages. */
  function describe(v: unknown): string {
    if (v === null) return "null";
    if (Array.isArray(v)) return "an array";
    const t = typeof v;
    // Longest excerpt of a bad value quoted back: enough to recognise it, short enough
    // that a hostile 100 KB string does not end up in the log.
    if (t === "string") return (v as string).length > 40 ? quoteJson((v as string).substring(0, 40)) + "..." : quoteJson(v as string);
    if (t === "object") return "an object";
    if (t === "number" || t === "boolean") return String(v);
    return t;
  }

  /**
   * obj[name], checked as `kind`, or throws MSG_INVALID "<name> ...":
   *   "t" required text, "o" optional text (undefined when absent): a non-empty string of
   *       at most max characters without control characters;
   *   "k" task_id, optional: a non-negative integer, or text of at most max characters;
   *   "i" required integer, given as a JSON number or a decimal string ("29972", "-1"), as the
   *       platform and the SDKs use both forms (no sign other than a leading "-", no spaces,
   *       exponents, fractions or hex; at most 15 digits, which stay exact in a double);
   *   "z" required size: an "i" in 1..max;
   *   "m" required MD5 digest: exactly 32 hex characters, returned lowercase;
   *   "u" required download URL of at most max characters: http:// or https:// (scheme
   *       matched case-insensitively and returned lowercase, so later code can test the
   *       prefix directly), a non-empty host, and only printable ASCII (it goes verbatim into
   *       an HTTP request line, where a space or CR/LF would split or inject headers).
   */
  function field(name: string, kind: string, max: number): any {
    const v = obj[name] as any;
    const t = typeof v;
    let why = "";
    let out = v;
    let i = 0;
    if (v === undefined) {
      if (kind === "o" || kind === "k") return v;
      why = " is missing";
    } else if (kind === "k" && t === "number") {
      if (!isFinite(v) || Math.floor(v) !== v || v < 0) why = " must be a non-negative integer, got " + describe(v);
    } else if (kind === "k" && t !== "string") {
      why = " must be a number or a string, got " + describe(v);
    } else if (kind === "i" || kind === "z") {
      if (t === "number") {
        if (!isFinite(v)) why = " must be a finite number, got " + describe(v);
        else if (Math.floor(v) !== v) why = " must be an integer, got " + describe(v);
      } else if (t !== "string") {
        why = " must be a number or a numeric string, got " + describe(v);
      } else {
        const negative = v.charAt(0) === "-";
        if (negative) i = 1;
        if (i >= v.length) why = " must be a decimal integer, got " + describe(v);
        else if (v.length - i > 15) why = " has more than 15 digits: " + describe(v);
        out = 0;
        for (; !why && i < v.length; i++) {
          const d = v.charCodeAt(i) - 48;
          if (d < 0 || d > 9) why = " must be a decimal integer, got " + describe(v);
          out = out * 10 + d;
        }
        if (negative) out = -out;
      }
      if (!why && kind === "z") {
        if (out <= 0) why = " must be greater than 0, got " + out;
        else if (out > max) why = " is " + out + " bytes, over the limit of " + max;
      }
    } else if (t !== "string") {
      why = " must be a string, got " + describe(v);
    } else if (kind === "m") {
      if (v.length !== 32) why = " must be 32 hex characters, got " + v.length + " characters";
      for (; !why && i < 32; i++) {
        const c = v.charCodeAt(i), lower = c | 32;
        if (!(c >= 48 && c <= 57) && !(lower >= 97 && lower <= 102)) why = " has a non-hex character at index " + i;
      }
      out = v.toLowerCase();
    } else if (v.length > max) {
      why = " is " + v.length + " characters, over the limit of " + max;
    } else if (kind === "u") {
      const head = v.substring(0, 8).toLowerCase();
      i = head === "https://" ? 8 : head.substring(0, 7) === "http://" ? 7 : 0;
      const first = v.charAt(i);
      if (!i) why = " must start with http:// or https://, got " + describe(v);
      else if (first === "" || first === "/" || first === "?" || first === "#") why = " has no host";
      out = head.substring(0, i) + v.substring(i);
      for (; !why && i < v.length; i++) {
        const c = v.charCodeAt(i);
        if (c <= 32 || c === 127) why = " contains a space or control character at index " + i;
        else if (c > 127) why = " contains a non-ASCII character at index " + i;
      }
    } else {
      if (v.length === 0) why = " is empty";
      for (; !why && i < v.length; i++) {
        const c = v.charCodeAt(i);
        if (c < 32 || c === 127) why = " contains a control character at index " + i;
      }
    }
    if (why) throw otaError("MSG_INVALID", name + why);
    return out;
  }

  if (typeof payload !== "string") throw otaError("MSG_INVALID", "payload must be a string, got " + describe(payload));
  // Room for every field except the URL. A payload longer than maxUrlLength plus this
  // cannot be a valid message, and scanning it would cost seconds on the device.
  const maxLength = limits.maxUrlLength + 2048;
  if (payload.length > maxLength) {
    throw otaError("MSG_INVALID", "payload is " + payload.length + " characters, over the limit of " + maxLength);
  }
  // Our messages are one level deep; brackets outside strings nested deeper than 8 are
  // garbage. Checked before JSON.parse because Espruino's parser recurses in C with no stack
  // check (jswrap_json.c): 200 000 "[" segfault the Linux build, and the ESP32 task
  // stack is only 25 KB. (Espruino's parser is also laxer than JSON: it takes single
  // quotes and trailing text. Harmless, as every field is validated afterwards.)
  let depth = 0;
  let inString = false;
  for (let i = 0; i < payload.length; i++) {
    const c = payload.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 123 || c === 91) {
      if (++depth > 8) throw otaError("MSG_INVALID", "payload nests deeper than 8 levels");
    } else if (c === 125 || c === 93) {
      depth--;
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch (e) {
    throw otaError("MSG_INVALID", "payload is not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw otaError("MSG_INVALID", "payload must be a JSON object, got " + describe(parsed));
  }
  obj = parsed as JsonObject;
  const type = obj["type"];
  if (type === undefined) throw otaError("MSG_INVALID", "type is missing");
  if (typeof type !== "string") throw otaError("MSG_INVALID", "type must be a string, got " + describe(type));
  if (type === "update_firmware") {
    const version: string = field("version", "t", limits.maxVersionLength);
    let msg: UpdateFirmware;
    try {
      msg = {
        type: type,
        version: version,
        url: field("url", "u", limits.maxUrlLength),
        md5: field("md5sum", "m", 32),
        fileSize: field("file_size", "z", limits.maxFileSize),
      };
      // task_id strings are opaque ids; capped like other short text.
      const taskId = field("task_id", "k", 64);
      if (taskId !== undefined) msg.taskId = taskId;
    } catch (e) {
      (e as InvalidUpdate).version = version;
      throw e;
    }
    const fwType = field("fw_type", "o", limits.maxVersionLength);
    if (fwType !== undefined) msg.fwType = fwType;
    return msg;
  }
  if (type === "report_version_rsp") {
    const resultMsg = obj["result_msg"];
    if (resultMsg !== undefined && typeof resultMsg !== "string") {
      throw otaError("MSG_INVALID", "result_msg must be a string, got " + describe(resultMsg));
    }
    const rsp: ReportVersionRsp = {
      type: type,
      resultCode: field("result_code", "i", 0),
      resultMsg: resultMsg === undefined ? "" : resultMsg,
    };
    const version = field("version", "o", limits.maxVersionLength);
    if (version !== undefined) rsp.version = version;
    return rsp;
  }
  return { type: "ignored", reason: "unknown message type " + describe(type) };
}

// ---- outbound -------------------------------------------------------------------

/** Tencent's progress result codes (docs/tencent-protocol.md#result-codes). */
export type FailCode = -1 | -2 | -3 | -4 | -5;

/**
 * A result_msg that says what went wrong (the C SDK sends "time_out" for every code).
 * `detail` is appended in parentheses: failMessage(-1, "after 5 retries") gives
 * "download timed out (after 5 retries)". The result is at most 120 characters
 * (result_msg is shown in the console next to the task; short on a QoS1 message).
 */
export function failMessage(code: FailCode, detail?: string): string {
  let text =
    code === -1 ? "download timed out"
    : code === -2 ? "firmware not found"
    : code === -3 ? "download URL signature expired"
    : code === -4 ? "MD5 mismatch"
    : code === -5 ? "update failed"
    : "error " + code;
  if (detail) text += " (" + detail + ")";
  return text.length > 120 ? text.substring(0, 117) + "..." : text;
}

/**
 * {"type":"report_version","report":{["fw_type":..,]"version":..}}, the same bytes as
 * otaReport("version", ...), standalone for code that publishes only this one.
 */
export function reportVersion(version: string, fwType?: string): string {
  const fw = fwType === undefined ? "" : '"fw_type":' + quoteJson(fwType) + ",";
  return '{"type":"report_version","report":{' + fw + '"version":' + quoteJson(version) + "}}";
}

/** What otaReport builds: a report_progress in one of its states, or a report_version. */
export type ReportKind = "downloading" | "burning" | "done" | "fail" | "version";

/**
 * Every message the device publishes on $ota/report, by `kind`:
 *   "version": {"type":"report_version","report":{["fw_type":..,]"version":..}} (fw_type from echo);
 *   otherwise {"type":"report_progress","report":{"progress":{"state":kind,["percent":..,]"result_code":..,
 *   "result_msg":..},"version":..[,"fw_type":..][,"task_id":..]}}.
 * @param echo the push's task_id and fw_type, which a v2 platform wants back in every progress report
 * @param n    "downloading": the percent (clamped to an integer 0..100); "fail": the result code
 * @param msg  "fail": the result_msg (failMessage)
 * One function for all five, so code on the board that builds every report carries one builder
 * (the named forms below are each one more function where they are imported).
 */
export function otaReport(kind: ReportKind, version: string, echo?: Echo | null, n?: number, msg?: string): string {
  if (kind === "version") {
    const fw = echo && echo.fwType !== undefined ? '"fw_type":' + quoteJson(echo.fwType) + "," : "";
    return '{"type":"report_version","report":{' + fw + '"version":' + quoteJson(version) + "}}";
  }
  const fail = kind === "fail";
  let s = '{"type":"report_progress","report":{"progress":{"state":"' + kind + '",';
  if (kind === "downloading") s += '"percent":"' + (!((n as number) > 0) ? 0 : (n as number) >= 100 ? 100 : Math.floor(n as number)) + '",';
  s += '"result_code":"' + (fail ? n : 0) + '","result_msg":' + (fail ? quoteJson(msg as string) : '""') + '},"version":' + quoteJson(version);
  if (echo) {
    const id = echo.taskId;
    if (echo.fwType !== undefined) s += ',"fw_type":' + quoteJson(echo.fwType);
    if (typeof id === "string") s += ',"task_id":' + quoteJson(id);
    else if (typeof id === "number" && isFinite(id)) s += ',"task_id":' + String(id);
  }
  return s + "}}";
}

// The named forms. Code that runs on the board and builds more than one kind of report should
// call otaReport: each of these is one more function in a bundle that imports it.
export function reportDownloading(targetVersion: string, percent: number, echo?: Echo): string {
  return otaReport("downloading", targetVersion, echo, percent);
}

export function reportBurning(targetVersion: string, echo?: Echo): string {
  return otaReport("burning", targetVersion, echo);
}

export function reportDone(targetVersion: string, echo?: Echo): string {
  return otaReport("done", targetVersion, echo);
}

export function reportFail(targetVersion: string, code: FailCode, msg: string, echo?: Echo): string {
  return otaReport("fail", targetVersion, echo, code, msg);
}

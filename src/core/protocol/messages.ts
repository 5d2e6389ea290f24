// Tencent IoT Hub OTA messages, device side (docs/tencent-protocol.md).
//
// Inbound ($ota/update/<product>/<device>): parseDownMessage validates everything the
// agent will later act on, so the downloader never sees a half-checked URL or size.
// Outbound ($ota/report/<product>/<device>): the builders write the JSON text by hand,
// in the exact key order of the platform documentation (DOCS 1081/39359), compact,
// with percent and result_code as strings like every official SDK. Fixtures in
// test/fixtures/tencent hold the bytes.

import { otaError } from "../errors";
import { quoteJson } from "./json-text";
import { clampPercent } from "./progress";
import {
  JsonObject,
  checkText,
  describeValue,
  readInteger,
  readMd5,
  readOptionalText,
  readSize,
  readText,
  readUrl,
} from "./fields";

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

// Our messages are one level deep; anything nested deeper than this is garbage.
// Checked before JSON.parse because Espruino's parser recurses in C with no stack
// check (jswrap_json.c): 200 000 "[" segfault the Linux build, and the ESP32 task
// stack is only 25 KB. (Espruino's parser is also laxer than JSON: it takes single
// quotes and trailing text. Harmless, as every field is validated afterwards.)
const MAX_NESTING = 8;
// Room for every field except the URL. A payload longer than maxUrlLength plus this
// cannot be a valid message, and scanning it would cost seconds on the device.
const NON_URL_BUDGET = 2048;
// task_id strings are opaque ids; cap them like other short text.
const MAX_TASK_ID_LENGTH = 64;

function invalid(detail: string): Error {
  return otaError("MSG_INVALID", detail);
}

/** Throws when brackets outside strings nest deeper than MAX_NESTING. */
function checkNesting(payload: string): void {
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
      if (++depth > MAX_NESTING) throw invalid("payload nests deeper than " + MAX_NESTING + " levels");
    } else if (c === 125 || c === 93) {
      depth--;
    }
  }
}

function readTaskId(obj: JsonObject): number | string | undefined {
  const v = obj["task_id"];
  if (v === undefined) return undefined;
  if (typeof v === "number") {
    if (!isFinite(v) || Math.floor(v) !== v || v < 0) {
      throw invalid("task_id must be a non-negative integer, got " + describeValue(v));
    }
    return v;
  }
  if (typeof v === "string") return checkText("task_id", v, MAX_TASK_ID_LENGTH);
  throw invalid("task_id must be a number or a string, got " + describeValue(v));
}

/** An invalid update_firmware whose version is readable, so the agent can report fail for it. */
export interface InvalidUpdate extends Error {
  version?: string;
}

function parseUpdateFirmware(obj: JsonObject, limits: MessageLimits): UpdateFirmware {
  const version = readText(obj, "version", limits.maxVersionLength);
  let msg: UpdateFirmware;
  try {
    msg = {
      type: "update_firmware",
      version: version,
      url: readUrl(obj, "url", limits.maxUrlLength),
      md5: readMd5(obj, "md5sum"),
      fileSize: readSize(obj, "file_size", limits.maxFileSize),
    };
  } catch (e) {
    (e as InvalidUpdate).version = version;
    throw e;
  }
  let taskId: number | string | undefined;
  try {
    taskId = readTaskId(obj);
  } catch (e) {
    (e as InvalidUpdate).version = version;
    throw e;
  }
  if (taskId !== undefined) msg.taskId = taskId;
  const fwType = readOptionalText(obj, "fw_type", limits.maxVersionLength);
  if (fwType !== undefined) msg.fwType = fwType;
  return msg;
}

function parseReportVersionRsp(obj: JsonObject, limits: MessageLimits): ReportVersionRsp {
  const resultMsg = obj["result_msg"];
  if (resultMsg !== undefined && typeof resultMsg !== "string") {
    throw invalid("result_msg must be a string, got " + describeValue(resultMsg));
  }
  const msg: ReportVersionRsp = {
    type: "report_version_rsp",
    resultCode: readInteger(obj, "result_code"),
    resultMsg: resultMsg === undefined ? "" : resultMsg,
  };
  const version = readOptionalText(obj, "version", limits.maxVersionLength);
  if (version !== undefined) msg.version = version;
  return msg;
}

/**
 * Parses and validates one $ota/update payload. Unknown message types are returned as
 * { type: "ignored" } (the platform may add types); anything malformed throws
 * otaError("MSG_INVALID", "<field> ...").
 */
export function parseDownMessage(payload: string, limits: MessageLimits): DownMessage {
  if (typeof payload !== "string") throw invalid("payload must be a string, got " + describeValue(payload));
  const maxLength = limits.maxUrlLength + NON_URL_BUDGET;
  if (payload.length > maxLength) {
    throw invalid("payload is " + payload.length + " characters, over the limit of " + maxLength);
  }
  checkNesting(payload);
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch (e) {
    throw invalid("payload is not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw invalid("payload must be a JSON object, got " + describeValue(parsed));
  }
  const obj = parsed as JsonObject;
  const type = obj["type"];
  if (type === undefined) throw invalid("type is missing");
  if (typeof type !== "string") throw invalid("type must be a string, got " + describeValue(type));
  if (type === "update_firmware") return parseUpdateFirmware(obj, limits);
  if (type === "report_version_rsp") return parseReportVersionRsp(obj, limits);
  return { type: "ignored", reason: "unknown message type " + describeValue(type) };
}

// ---- outbound -------------------------------------------------------------------

/** Tencent's progress result codes (docs/tencent-protocol.md#result-codes). */
export type FailCode = -1 | -2 | -3 | -4 | -5;
export const FAIL_TIMEOUT: FailCode = -1;
export const FAIL_NOT_FOUND: FailCode = -2;
export const FAIL_SIGNATURE_EXPIRED: FailCode = -3;
export const FAIL_MD5_MISMATCH: FailCode = -4;
export const FAIL_UPDATE: FailCode = -5;

// result_msg is shown in the console next to the task; keep it short on a QoS1 message.
const MAX_RESULT_MSG_LENGTH = 120;

/**
 * A result_msg that says what went wrong (the C SDK sends "time_out" for every code).
 * `detail` is appended in parentheses: failMessage(-1, "after 5 retries") gives
 * "download timed out (after 5 retries)". The result is at most 120 characters.
 */
export function failMessage(code: FailCode, detail?: string): string {
  let text: string;
  if (code === -1) text = "download timed out";
  else if (code === -2) text = "firmware not found";
  else if (code === -3) text = "download URL signature expired";
  else if (code === -4) text = "MD5 mismatch";
  else if (code === -5) text = "update failed";
  else text = "error " + code;
  if (detail) text += " (" + detail + ")";
  return text.length > MAX_RESULT_MSG_LENGTH ? text.substring(0, MAX_RESULT_MSG_LENGTH - 3) + "..." : text;
}

/** {"type":"report_version","report":{["fw_type":..,]"version":..}} */
export function reportVersion(version: string, fwType?: string): string {
  const fw = fwType === undefined ? "" : '"fw_type":' + quoteJson(fwType) + ",";
  return '{"type":"report_version","report":{' + fw + '"version":' + quoteJson(version) + "}}";
}

function echoTail(echo: Echo | undefined): string {
  if (!echo) return "";
  let tail = "";
  if (echo.fwType !== undefined) tail += ',"fw_type":' + quoteJson(echo.fwType);
  const id = echo.taskId;
  if (typeof id === "string") tail += ',"task_id":' + quoteJson(id);
  else if (typeof id === "number" && isFinite(id)) tail += ',"task_id":' + String(id);
  return tail;
}

function progress(stateFields: string, version: string, echo: Echo | undefined): string {
  return (
    '{"type":"report_progress","report":{"progress":{' +
    stateFields +
    '},"version":' +
    quoteJson(version) +
    echoTail(echo) +
    "}}"
  );
}

export function reportDownloading(targetVersion: string, percent: number, echo?: Echo): string {
  return progress(
    '"state":"downloading","percent":"' + clampPercent(percent) + '","result_code":"0","result_msg":""',
    targetVersion,
    echo
  );
}

export function reportBurning(targetVersion: string, echo?: Echo): string {
  return progress('"state":"burning","result_code":"0","result_msg":""', targetVersion, echo);
}

export function reportDone(targetVersion: string, echo?: Echo): string {
  return progress('"state":"done","result_code":"0","result_msg":""', targetVersion, echo);
}

export function reportFail(targetVersion: string, code: FailCode, msg: string, echo?: Echo): string {
  return progress(
    '"state":"fail","result_code":"' + code + '","result_msg":' + quoteJson(msg),
    targetVersion,
    echo
  );
}

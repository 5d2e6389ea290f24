// Field readers for inbound OTA messages. Each one either returns a clean value or
// throws otaError("MSG_INVALID", ...) with a message that starts with the JSON field
// name, so a log line alone says which field of which push was wrong.
// No regular expressions: Espruino lacks {n} quantifiers, and a char loop is cheap.

import { otaError } from "../errors";
import { quoteJson } from "./json-text";

/** The JSON object being read (the parsed payload). */
export type JsonObject = { [key: string]: unknown };

// Longest excerpt of a bad value quoted back in an error message: enough to recognise
// it, short enough that a hostile 100 KB string does not end up in the log.
const EXCERPT_LENGTH = 40;
// 15 decimal digits stay exact in a double (2^53 is 16 digits), so a numeric string
// never silently rounds.
const MAX_DIGITS = 15;

/** Short human description of a JSON value, for error messages. */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  const t = typeof v;
  if (t === "string") {
    const s = v as string;
    return s.length > EXCERPT_LENGTH ? quoteJson(s.substring(0, EXCERPT_LENGTH)) + "..." : quoteJson(s);
  }
  if (t === "object") return "an object";
  if (t === "number" || t === "boolean") return String(v);
  return t;
}

function invalid(detail: string): Error {
  return otaError("MSG_INVALID", detail);
}

function isControl(c: number): boolean {
  return c < 32 || c === 127;
}

/** Checks a present value is a non-empty string of at most maxLength characters without control characters. */
export function checkText(name: string, v: unknown, maxLength: number): string {
  if (typeof v !== "string") throw invalid(name + " must be a string, got " + describeValue(v));
  if (v.length === 0) throw invalid(name + " is empty");
  if (v.length > maxLength) throw invalid(name + " is " + v.length + " characters, over the limit of " + maxLength);
  for (let i = 0; i < v.length; i++) {
    if (isControl(v.charCodeAt(i))) throw invalid(name + " contains a control character at index " + i);
  }
  return v;
}

/** Required text field. */
export function readText(obj: JsonObject, name: string, maxLength: number): string {
  const v = obj[name];
  if (v === undefined) throw invalid(name + " is missing");
  return checkText(name, v, maxLength);
}

/** Optional text field: undefined when absent. */
export function readOptionalText(obj: JsonObject, name: string, maxLength: number): string | undefined {
  const v = obj[name];
  return v === undefined ? undefined : checkText(name, v, maxLength);
}

/**
 * An integer given as a JSON number or as a decimal string ("29972", "-1"), as the
 * platform and the SDKs use both forms. No sign other than a leading "-", no spaces,
 * exponents, fractions or hex.
 */
export function toInteger(name: string, v: unknown): number {
  if (typeof v === "number") {
    if (!isFinite(v)) throw invalid(name + " must be a finite number, got " + describeValue(v));
    if (Math.floor(v) !== v) throw invalid(name + " must be an integer, got " + describeValue(v));
    return v;
  }
  if (typeof v !== "string") throw invalid(name + " must be a number or a numeric string, got " + describeValue(v));
  let i = 0;
  const negative = v.charAt(0) === "-";
  if (negative) i = 1;
  if (i >= v.length) throw invalid(name + " must be a decimal integer, got " + describeValue(v));
  if (v.length - i > MAX_DIGITS) throw invalid(name + " has more than " + MAX_DIGITS + " digits: " + describeValue(v));
  let n = 0;
  for (; i < v.length; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) throw invalid(name + " must be a decimal integer, got " + describeValue(v));
    n = n * 10 + d;
  }
  return negative ? -n : n;
}

/** Required integer (number or numeric string), any sign. */
export function readInteger(obj: JsonObject, name: string): number {
  const v = obj[name];
  if (v === undefined) throw invalid(name + " is missing");
  return toInteger(name, v);
}

/** Required integer in 1..max (a byte count). */
export function readSize(obj: JsonObject, name: string, max: number): number {
  const n = readInteger(obj, name);
  if (n <= 0) throw invalid(name + " must be greater than 0, got " + n);
  if (n > max) throw invalid(name + " is " + n + " bytes, over the limit of " + max);
  return n;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 32;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/** Required MD5 digest: exactly 32 hex characters, returned lowercase. */
export function readMd5(obj: JsonObject, name: string): string {
  const v = obj[name];
  if (v === undefined) throw invalid(name + " is missing");
  if (typeof v !== "string") throw invalid(name + " must be a string, got " + describeValue(v));
  if (v.length !== 32) throw invalid(name + " must be 32 hex characters, got " + v.length + " characters");
  for (let i = 0; i < 32; i++) {
    if (hexValue(v.charCodeAt(i)) < 0) throw invalid(name + " has a non-hex character at index " + i);
  }
  return v.toLowerCase();
}

/**
 * Required download URL: http:// or https:// (scheme matched case-insensitively and
 * returned lowercase, so later code can test the prefix directly), a non-empty host,
 * and only printable ASCII (it goes verbatim into an HTTP request line, where a space or
 * CR/LF would split or inject headers).
 */
export function readUrl(obj: JsonObject, name: string, maxLength: number): string {
  const v = obj[name];
  if (v === undefined) throw invalid(name + " is missing");
  if (typeof v !== "string") throw invalid(name + " must be a string, got " + describeValue(v));
  if (v.length > maxLength) throw invalid(name + " is " + v.length + " characters, over the limit of " + maxLength);
  const head = v.substring(0, 8).toLowerCase();
  let schemeLength = 0;
  if (head === "https://") schemeLength = 8;
  else if (head.substring(0, 7) === "http://") schemeLength = 7;
  else throw invalid(name + " must start with http:// or https://, got " + describeValue(v));
  const first = v.charAt(schemeLength);
  if (first === "" || first === "/" || first === "?" || first === "#") throw invalid(name + " has no host");
  for (let i = schemeLength; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c <= 32 || c === 127) throw invalid(name + " contains a space or control character at index " + i);
    if (c > 127) throw invalid(name + " contains a non-ASCII character at index " + i);
  }
  return head.substring(0, schemeLength) + v.substring(schemeLength);
}

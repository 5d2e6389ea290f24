// Hostile and edge-case inbound payloads for parseDownMessage: every malformed one must
// throw MSG_INVALID with a message naming the problem; odd-but-valid ones must parse.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDownMessage } from "../../src/core/protocol/messages";
import { isOtaError } from "../../src/core/errors";

const LIMITS = { maxUrlLength: 256, maxVersionLength: 32, maxFileSize: 4194304 };
const MD5 = "0123456789abcdef0123456789ABCDEF";

/** A valid update_firmware payload with some fields replaced (undefined removes a field). */
function push(overrides: { [key: string]: unknown }): string {
  const base: { [key: string]: unknown } = {
    type: "update_firmware",
    version: "1.0.1",
    url: "https://ota.example.com/fw.bin",
    md5sum: MD5,
    file_size: 1000,
  };
  for (const k of Object.keys(overrides)) {
    if (overrides[k] === undefined) delete base[k];
    else base[k] = overrides[k];
  }
  return JSON.stringify(base);
}

function rsp(fields: string): string {
  return '{"type":"report_version_rsp"' + fields + "}";
}

// [what, payload, text the error message must contain]
const HOSTILE: Array<[string, unknown, string]> = [
  ["truncated JSON", '{"type":"update_firmware",', "not valid JSON"],
  ["empty payload", "", "not valid JSON"],
  ["plain text", "update now", "not valid JSON"],
  ["payload not a string", 42, "payload must be a string"],
  ["null", "null", "must be a JSON object, got null"],
  ["array instead of object", "[" + push({}) + "]", "must be a JSON object, got an array"],
  ["number", "42", "must be a JSON object, got 42"],
  ["bare string", '"update_firmware"', 'must be a JSON object, got "update_firmware"'],
  ["type missing", push({ type: undefined }), "type is missing"],
  ["type not a string", push({ type: 1 }), "type must be a string, got 1"],
  ["__proto__ smuggling", '{"__proto__":{"type":"update_firmware"}}', "type is missing"],
  ["version missing", push({ version: undefined }), "version is missing"],
  ["version a number", push({ version: 2 }), "version must be a string, got 2"],
  ["version nested object", push({ version: { a: [1, { b: 2 }] } }), "version must be a string, got an object"],
  ["version empty", push({ version: "" }), "version is empty"],
  ["version with newline", push({ version: "1.0\n1" }), "version contains a control character at index 3"],
  ["version with NUL", push({ version: "1\u0000" }), "version contains a control character at index 1"],
  ["version with DEL", push({ version: "1\u007f" }), "version contains a control character"],
  ["version overlong", push({ version: "1".repeat(33) }), "version is 33 characters, over the limit of 32"],
  ["url missing", push({ url: undefined }), "url is missing"],
  ["url null", push({ url: null }), "url must be a string, got null"],
  ["ftp url", push({ url: "ftp://ota.example.com/fw.bin" }), "url must start with http:// or https://"],
  ["javascript url", push({ url: "javascript:alert(1)" }), 'url must start with http:// or https://, got "javascript'],
  ["relative url", push({ url: "/fw.bin" }), "url must start with http:// or https://"],
  ["url without host", push({ url: "https:///fw.bin" }), "url has no host"],
  ["url scheme only", push({ url: "http://" }), "url has no host"],
  ["url with space", push({ url: "https://a.example.com/f w.bin" }), "url contains a space or control character at index 23"],
  ["url with CRLF", push({ url: "https://a.example.com/\r\nHost: evil" }), "url contains a space or control character"],
  ["url with tab", push({ url: "https://a.example.com/\tx" }), "url contains a space or control character"],
  ["url non-ASCII", push({ url: "https://a.example.com/\u00e9" }), "url contains a non-ASCII character"],
  ["url overlong", push({ url: "https://a.example.com/" + "a".repeat(240) }), "url is 262 characters, over the limit of 256"],
  ["md5sum missing", push({ md5sum: undefined }), "md5sum is missing"],
  ["md5sum a number", push({ md5sum: 1234 }), "md5sum must be a string, got 1234"],
  ["md5sum too short", push({ md5sum: MD5.substring(1) }), "md5sum must be 32 hex characters, got 31 characters"],
  ["md5sum too long", push({ md5sum: MD5 + "0" }), "md5sum must be 32 hex characters, got 33 characters"],
  ["md5sum non-hex", push({ md5sum: "g" + MD5.substring(1) }), "md5sum has a non-hex character at index 0"],
  ["md5sum with space", push({ md5sum: MD5.substring(0, 31) + " " }), "md5sum has a non-hex character at index 31"],
  ["file_size missing", push({ file_size: undefined }), "file_size is missing"],
  ["file_size zero", push({ file_size: 0 }), "file_size must be greater than 0, got 0"],
  ["file_size negative", push({ file_size: -1 }), "file_size must be greater than 0, got -1"],
  ["file_size negative string", push({ file_size: "-1" }), "file_size must be greater than 0, got -1"],
  ["file_size zero string", push({ file_size: "0" }), "file_size must be greater than 0, got 0"],
  ["file_size fractional", push({ file_size: 1000.5 }), "file_size must be an integer, got 1000.5"],
  ["file_size fractional string", push({ file_size: "1000.5" }), 'file_size must be a decimal integer, got "1000.5"'],
  ["file_size 12abc", push({ file_size: "12abc" }), 'file_size must be a decimal integer, got "12abc"'],
  ["file_size empty string", push({ file_size: "" }), "file_size must be a decimal integer"],
  ["file_size lone minus", push({ file_size: "-" }), "file_size must be a decimal integer"],
  ["file_size leading space", push({ file_size: " 12" }), "file_size must be a decimal integer"],
  ["file_size plus sign", push({ file_size: "+12" }), "file_size must be a decimal integer"],
  ["file_size exponent string", push({ file_size: "1e3" }), "file_size must be a decimal integer"],
  ["file_size hex string", push({ file_size: "0x10" }), "file_size must be a decimal integer"],
  ["file_size NaN string", push({ file_size: "NaN" }), "file_size must be a decimal integer"],
  ["file_size over limit", push({ file_size: 2147483648 }), "file_size is 2147483648 bytes, over the limit of 4194304"],
  ["file_size over limit string", push({ file_size: "4194305" }), "file_size is 4194305 bytes, over the limit"],
  ["file_size 20 digits", push({ file_size: "99999999999999999999" }), "file_size has more than 15 digits"],
  ["file_size 1e400", push({}).replace('"file_size":1000', '"file_size":1e400'), "file_size must be a finite number"],
  ["file_size boolean", push({ file_size: true }), "file_size must be a number or a numeric string, got true"],
  ["file_size array", push({ file_size: [1000] }), "file_size must be a number or a numeric string, got an array"],
  ["file_size null", push({ file_size: null }), "file_size must be a number or a numeric string, got null"],
  ["task_id negative", push({ task_id: -5 }), "task_id must be a non-negative integer, got -5"],
  ["task_id fractional", push({ task_id: 1.5 }), "task_id must be a non-negative integer, got 1.5"],
  ["task_id object", push({ task_id: {} }), "task_id must be a number or a string, got an object"],
  ["task_id empty string", push({ task_id: "" }), "task_id is empty"],
  ["task_id control character", push({ task_id: "1\n2" }), "task_id contains a control character"],
  ["fw_type a number", push({ fw_type: 7 }), "fw_type must be a string, got 7"],
  ["fw_type with control character", push({ fw_type: "mcu\u0001" }), "fw_type contains a control character"],
  [
    "duplicate md5sum keys (last one wins and is bad)",
    push({}).replace('"file_size"', '"md5sum":"zz' + MD5.substring(2) + '","file_size"'),
    "md5sum has a non-hex character at index 0",
  ],
  ["deeply nested array", "[".repeat(1000) + "]".repeat(1000), "nests deeper than 8 levels"],
  ["deep nesting inside a field", push({ junk: [[[[[[[[[1]]]]]]]]] }), "nests deeper than 8 levels"],
  ["payload longer than any valid message", push({ junk: "x".repeat(3000) }), "payload is 3"],
  ["rsp without result_code", rsp(',"result_msg":"success"'), "result_code is missing"],
  ["rsp result_code not numeric", rsp(',"result_code":"ok"'), 'result_code must be a decimal integer, got "ok"'],
  ["rsp result_code fractional", rsp(',"result_code":0.5'), "result_code must be an integer, got 0.5"],
  ["rsp result_msg a number", rsp(',"result_code":0,"result_msg":5'), "result_msg must be a string, got 5"],
  ["rsp version with control character", rsp(',"result_code":0,"version":"1\\u0007"'), "version contains a control character"],
];

for (const c of HOSTILE) {
  test("rejects " + c[0], () => {
    assert.throws(
      () => parseDownMessage(c[1] as string, LIMITS),
      (e: unknown) => {
        assert.ok(isOtaError(e), "expected an OtaError");
        assert.equal(e.code, "MSG_INVALID");
        assert.ok(e.message.indexOf(c[2]) >= 0, "message " + JSON.stringify(e.message) + " lacks " + JSON.stringify(c[2]));
        return true;
      }
    );
  });
}

test("hostile values are quoted back only as a short escaped excerpt", () => {
  try {
    parseDownMessage(push({ url: "gopher://" + "\n".repeat(5000) }), { maxUrlLength: 9000, maxVersionLength: 32, maxFileSize: 1e6 });
    assert.fail("should have thrown");
  } catch (e) {
    assert.ok(isOtaError(e));
    assert.ok(e.message.length < 400, "message is " + e.message.length + " characters");
    assert.ok(e.message.indexOf("\n") < 0);
  }
});

test("accepts odd but valid values", () => {
  const msg = parseDownMessage(
    push({
      url: "HTTPS://OTA.example.com/Fw.bin?a=1&b=%20",
      file_size: "004194304",
      version: "[[[[[[[[[[ {v2} \u00e9",
      extra: { nested: ["ignored"] },
    }),
    LIMITS
  );
  assert.deepStrictEqual(msg, {
    type: "update_firmware",
    version: "[[[[[[[[[[ {v2} \u00e9",
    url: "https://OTA.example.com/Fw.bin?a=1&b=%20",
    md5: MD5.toLowerCase(),
    fileSize: 4194304,
  });
});

test("accepts http:// as well as https://, and file_size equal to the limit", () => {
  const msg = parseDownMessage(push({ url: "http://10.0.0.2:8080/fw.bin", file_size: 4194304 }), LIMITS);
  assert.equal(msg.type, "update_firmware");
  if (msg.type === "update_firmware") {
    assert.equal(msg.url, "http://10.0.0.2:8080/fw.bin");
    assert.equal(msg.fileSize, 4194304);
  }
});

test("task_id 0 and string task ids are kept as given", () => {
  const a = parseDownMessage(push({ task_id: 0 }), LIMITS);
  const b = parseDownMessage(push({ task_id: "job-7" }), LIMITS);
  assert.equal(a.type === "update_firmware" && a.taskId, 0);
  assert.equal(b.type === "update_firmware" && b.taskId, "job-7");
});

test("unknown or empty message types are ignored, not errors", () => {
  assert.deepStrictEqual(parseDownMessage('{"type":"something_new","x":1}', LIMITS), {
    type: "ignored",
    reason: 'unknown message type "something_new"',
  });
  assert.equal(parseDownMessage('{"type":""}', LIMITS).type, "ignored");
});

test("report_version_rsp without result_msg gets an empty one; string result_code is read", () => {
  assert.deepStrictEqual(parseDownMessage(rsp(',"result_code":"0"'), LIMITS), {
    type: "report_version_rsp",
    resultCode: 0,
    resultMsg: "",
  });
});

test("JSON whitespace around and inside the object is accepted", () => {
  const msg = parseDownMessage("\r\n\t " + push({}).replace(/,/g, " ,\n ") + " \n", LIMITS);
  assert.equal(msg.type, "update_firmware");
});

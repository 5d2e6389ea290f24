// MQTT 3.1.1 wire helpers as binary strings (one char per byte), the form Espruino's sockets
// deliver and accept. The client (./client.ts) builds CONNECT/SUBSCRIBE/PUBLISH with the two
// encoders here and parses what the broker sends inline, in its data handler: on Espruino
// every function costs RAM even when its code stays in flash, so the codec is not split into
// a function per packet type. Encoders throw otaError("MQTT_PROTOCOL") on input the protocol
// cannot carry; the client catches that.

import { otaError } from "../errors";

/** Largest value the 4-byte remaining-length varint can carry (mqttFrame has it as a literal: no name on the device). */
export const MAX_REMAINING_LENGTH = 268435455;

/**
 * One packet: the first byte `header`, the remaining length as MQTT's varint, then `body`.
 * Throws MQTT_PROTOCOL when the body is longer than the varint can say.
 */
export function mqttFrame(header: number, body: string): string {
  let n = body.length;
  if (n > 268435455) throw otaError("MQTT_PROTOCOL", "remaining length " + n + " out of range");
  let s = String.fromCharCode(header);
  do {
    let b = n % 128;
    n = (n - b) / 128;
    if (n > 0) b = b | 128;
    s += String.fromCharCode(b);
  } while (n > 0);
  return s + body;
}

/** A length-prefixed MQTT string field; `s` must already be a binary string (see utf8EncodeBinary). */
export function mqttField(s: string): string {
  const n = s.length;
  if (n > 65535) throw otaError("MQTT_PROTOCOL", "string field longer than 65535 bytes");
  return String.fromCharCode(n >> 8, n & 255) + s;
}

/**
 * UTF-8 bytes (binary string) to a JS string. Invalid or truncated sequences become U+FFFD
 * rather than throwing, since payloads come from the network.
 * Where strings hold bytes (Espruino) the UTF-8 bytes already are the string the app works
 * with (JSON.parse keeps them), so the input is returned unchanged. That is tested inline:
 * on Espruino 2v29 String.fromCharCode keeps only the low 8 bits (measured: fromCharCode(0x100)
 * gives "\0"), so decoding there would mangle text.
 */
export function utf8Decode(s: string): string {
  if (String.fromCharCode(0x100).charCodeAt(0) !== 0x100) return s;
  let out = "";
  const n = s.length;
  let i = 0;
  // ASCII runs are copied with one substring each: per-character concatenation is slow on Espruino.
  let run = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      i++;
      continue;
    }
    if (run < i) out += s.substring(run, i);
    i++;
    let extra = 0;
    let cp = 0;
    let min = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
      cp = c & 0x1f;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      cp = c & 0x0f;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      cp = c & 0x07;
      min = 0x10000;
    }
    let j = 0;
    while (j < extra && i + j < n) {
      const d = s.charCodeAt(i + j);
      if ((d & 0xc0) !== 0x80) break;
      cp = (cp << 6) | (d & 0x3f);
      j++;
    }
    if (!extra || j < extra || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      // Skip only the continuation bytes that belonged to the bad sequence, so the next
      // valid character is not swallowed.
      out += "\ufffd";
    } else if (cp >= 0x10000) {
      cp -= 0x10000;
      out += String.fromCharCode(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      out += String.fromCharCode(cp);
    }
    i += j;
    run = i;
  }
  return run ? out + s.substring(run) : s;
}

/** A JS string to UTF-8 bytes (binary string), for callers that publish Unicode text; identity where strings hold bytes. */
export function utf8EncodeBinary(s: string): string {
  if (String.fromCharCode(0x100).charCodeAt(0) !== 0x100) return s;
  let out = "";
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out += s.charAt(i);
      continue;
    }
    if (c < 0x800) {
      out += String.fromCharCode(0xc0 | (c >> 6), 0x80 | (c & 63));
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        out += String.fromCharCode(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    out += String.fromCharCode(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return out;
}

// Hand-written JSON string quoting for the messages we publish.
//
// Why not JSON.stringify: on the ESP32, Espruino strings are byte strings and its
// JSON.stringify escapes every byte >= 127 as "\u00XX" (jsutils.c escapeCharacter), so
// a UTF-8 version string would reach the platform re-encoded as Latin-1 and no longer
// match the task version (the platform then ignores the progress report). Here only
// the characters JSON requires are escaped; every other byte passes through unchanged,
// so what we received is exactly what we echo (in Node, UTF-16 passes through the same way).

/** `s` as a JSON string literal (with quotes). */
export function quoteJson(s: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 32 && c !== 34 && c !== 92) continue;
    out += s.substring(start, i);
    if (c === 34) out += '\\"';
    else if (c === 92) out += "\\\\";
    else out += "\\u00" + (c >> 4).toString(16) + (c & 15).toString(16); // c < 32: lowercase hex, no table
    start = i + 1;
  }
  return '"' + out + s.substring(start) + '"';
}

// Signed updates (docs/security.md): the file a board downloads is the image followed by a
// fixed trailer, and the agent installs it only when the trailer's tag was made with this
// product's key. Public-key verification in Espruino's JavaScript takes minutes on an ESP32;
// HMAC-SHA256 over 64 bytes is two calls of Espruino's native crypto.SHA256.
//
// Trailer, SIGN_TRAILER bytes at the very end of the file (the host writer is src/host/sign):
//    0  4  magic "ESIG"
//    4  1  format, 1
//    5  1  kind: 0 firmware, 1 application
//    6  2  zero (reserved)
//    8 32  version, ASCII, NUL-padded
//   40  4  image size (file size - SIGN_TRAILER), u32 little-endian
//   44  4  zero (reserved)
//   48 32  tag = HMAC-SHA256(key, trailer bytes 0..48 | MD5 of the image bytes)
// 80 bytes keep an esptool image's 16-byte alignment, so the file's last flash write stays
// 4-byte aligned as ESP32 flash writes must be.
// The agent MD5s every byte as it writes it; the slot writer keeps the MD5 state at the image's
// end, so the tag costs no second pass over the image. The check itself is signCheck (check.ts).

export const SIGN_TRAILER = 80;

// A throw-away self-signed certificate for "localhost"/127.0.0.1, made in-process for the
// HTTPS tests. Node can make keys but has no X.509 writer, so the few DER structures a
// certificate needs are written here: no openssl CLI (absent from slim CI images) and no
// private key committed to the repository (secret scanners flag those).
import crypto from "node:crypto";

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out = [parts[0] * 40 + parts[1]];
  for (const p of parts.slice(2)) {
    const group: number[] = [p & 0x7f];
    for (let v = p >>> 7; v > 0; v >>>= 7) group.unshift(0x80 | (v & 0x7f));
    out.push(...group);
  }
  return tlv(0x06, Buffer.from(out));
}

function positiveInteger(b: Buffer): Buffer {
  return tlv(0x02, b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

function utcTime(d: Date): Buffer {
  const two = (n: number) => String(n).padStart(2, "0");
  const s =
    two(d.getUTCFullYear() % 100) + two(d.getUTCMonth() + 1) + two(d.getUTCDate()) +
    two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds()) + "Z";
  return tlv(0x17, Buffer.from(s, "ascii"));
}

export interface TestCert {
  key: string;
  cert: string;
}

/** A fresh P-256 key and a self-signed certificate valid from an hour ago for 30 days. */
export function makeTestCert(): TestCert {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const ecdsaWithSha256 = seq(oid("1.2.840.10045.4.3.2"));
  const name = seq(set(seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from("localhost")))));
  const now = Date.now();
  const validity = seq(utcTime(new Date(now - 3600e3)), utcTime(new Date(now + 30 * 86400e3)));
  const serial = crypto.randomBytes(8);
  serial[0] = (serial[0] & 0x7f) | 0x01;
  const altNames = seq(tlv(0x82, Buffer.from("localhost")), tlv(0x87, Buffer.from([127, 0, 0, 1])));
  const extensions = tlv(0xa3, seq(seq(oid("2.5.29.17"), tlv(0x04, altNames))));
  const tbs = seq(
    tlv(0xa0, positiveInteger(Buffer.from([2]))),
    positiveInteger(serial),
    ecdsaWithSha256,
    name,
    validity,
    name,
    publicKey.export({ type: "spki", format: "der" }),
    extensions,
  );
  const signature = crypto.sign("sha256", tbs, privateKey);
  const der = seq(tbs, ecdsaWithSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n");
  return {
    key: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    cert: "-----BEGIN CERTIFICATE-----\n" + b64.replace(/\n$/, "") + "\n-----END CERTIFICATE-----\n",
  };
}

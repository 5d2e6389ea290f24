import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parsePartitionTable } from "../../src/core/esp32/partition-table";
import { buildPartitionTable, PartitionInput } from "../../src/host/image/partition-table-builder";
import { STOCK_LAYOUT, AB_4MB_LAYOUT } from "../../src/host/image/layouts";

const md5 = (d: Uint8Array) => new Uint8Array(createHash("md5").update(d).digest());
const MB4 = 0x400000;

const hex = (s: string) => Uint8Array.from(s.trim().split(/\s+/).map((h) => parseInt(h, 16)));

// docs/esp32-formats.md#partition-table-vector: gen_esp32part.py (IDF v4.4) output, first 0xE0 bytes; the rest is 0xFF.
const GOLDEN_6_2 = hex(`
aa 50 01 02 00 90 00 00 00 40 00 00 6e 76 73 00  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
aa 50 01 00 00 d0 00 00 00 20 00 00 6f 74 61 64  61 74 61 00 00 00 00 00 00 00 00 00 00 00 00 00
aa 50 01 01 00 f0 00 00 00 10 00 00 70 68 79 5f  69 6e 69 74 00 00 00 00 00 00 00 00 00 00 00 00
aa 50 00 10 00 00 01 00 00 00 18 00 6f 74 61 5f  30 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
aa 50 00 11 00 00 19 00 00 00 18 00 6f 74 61 5f  31 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
aa 50 01 82 00 00 31 00 00 00 0f 00 73 74 6f 72  61 67 65 00 00 00 00 00 00 00 00 00 00 00 00 00
eb eb ff ff ff ff ff ff ff ff ff ff ff ff ff ff  61 d5 1a 20 e6 42 ba 6b e8 bf 2d 54 c4 ef db bb`);

const CSV_6_2: PartitionInput[] = [
  { label: "nvs", type: "data", subtype: "nvs", offset: 0x9000, size: 0x4000 },
  { label: "otadata", type: "data", subtype: "ota", offset: 0xd000, size: 0x2000 },
  { label: "phy_init", type: "data", subtype: "phy", offset: 0xf000, size: 0x1000 },
  { label: "ota_0", type: "app", subtype: "ota_0", offset: 0x10000, size: 0x180000 },
  { label: "ota_1", type: "app", subtype: "ota_1", offset: 0x190000, size: 0x180000 },
  { label: "storage", type: "data", subtype: "spiffs", offset: 0x310000, size: 0xf0000 },
];

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? "no code: " + String(e);
  }
  return "no error";
}

test("buildPartitionTable reproduces the gen_esp32part.py bytes of docs/esp32-formats.md#partition-table-vector", () => {
  const t = buildPartitionTable(CSV_6_2);
  assert.equal(t.length, 0xc00);
  assert.deepEqual(t.subarray(0, 0xe0), GOLDEN_6_2);
  assert.ok(t.subarray(0xe0).every((b) => b === 0xff));
  assert.equal(createHash("md5").update(t.subarray(0, 6 * 32)).digest("hex"), "61d51a20e642ba6be8bf2d54c4efdbbb");
});

test("parsePartitionTable reads the golden table into typed slots", () => {
  const golden = new Uint8Array(0xc00).fill(0xff);
  golden.set(GOLDEN_6_2);
  const t = parsePartitionTable(golden, md5, MB4);
  assert.equal(t.md5Checked, true);
  assert.deepEqual(
    t.partitions.map((p) => [p.label, p.type, p.subtype, p.offset, p.size, p.flags]),
    [
      ["nvs", 1, 2, 0x9000, 0x4000, 0],
      ["otadata", 1, 0, 0xd000, 0x2000, 0],
      ["phy_init", 1, 1, 0xf000, 0x1000, 0],
      ["ota_0", 0, 0x10, 0x10000, 0x180000, 0],
      ["ota_1", 0, 0x11, 0x190000, 0x180000, 0],
      ["storage", 1, 0x82, 0x310000, 0xf0000, 0],
    ],
  );
  assert.equal(t.factory, null);
  assert.deepEqual(t.ota.map((p) => p.label), ["ota_0", "ota_1"]);
  assert.equal(t.otadata?.offset, 0xd000);
});

test("a whole 4 KB sector (with the signature area) parses like the 0xC00 table", () => {
  const sector = new Uint8Array(0x1000).fill(0xff);
  sector.set(buildPartitionTable(STOCK_LAYOUT.partitionTable.partitions));
  const t = parsePartitionTable(sector, md5, MB4);
  assert.equal(t.factory?.offset, 0x10000);
  assert.deepEqual(t.ota.map((p) => p.offset), [0x190000]);
  assert.equal(t.partitions.find((p) => p.label === "flash")?.subtype, 0x40, "the journal's data partition keeps its custom subtype");
});

test("tables without an MD5 entry are accepted, and say so", () => {
  const t = parsePartitionTable(buildPartitionTable(AB_4MB_LAYOUT.partitionTable.partitions, { md5: false }), md5, MB4);
  assert.equal(t.md5Checked, false);
  assert.equal(t.ota.length, 2);
});

test("labels of exactly 16 characters are not NUL-terminated and still read back", () => {
  const parts = CSV_6_2.map((p) => (p.label === "storage" ? { ...p, label: "abcdefghijklmnop" } : p));
  const t = parsePartitionTable(buildPartitionTable(parts), md5, MB4);
  assert.equal(t.partitions[5].label, "abcdefghijklmnop");
});

test("each kind of broken table gives its own error code", () => {
  const good = () => buildPartitionTable(CSV_6_2);
  const build = (edit: (p: PartitionInput[]) => PartitionInput[]) => buildPartitionTable(edit(CSV_6_2.map((p) => ({ ...p }))));

  const badMagic = good();
  badMagic[32] = 0xab;
  assert.equal(codeOf(() => parsePartitionTable(badMagic, md5, MB4)), "PT_MAGIC");

  const erased = new Uint8Array(0xc00).fill(0xff);
  assert.equal(codeOf(() => parsePartitionTable(erased, md5, MB4)), "PT_MAGIC");

  const badMd5 = good();
  badMd5[5 * 32 + 12] ^= 1; // one bit of the "storage" label
  assert.equal(codeOf(() => parsePartitionTable(badMd5, md5, MB4)), "PT_MD5");

  const twoMd5 = good();
  twoMd5.copyWithin(7 * 32, 6 * 32, 7 * 32);
  assert.equal(codeOf(() => parsePartitionTable(twoMd5, md5, MB4)), "PT_MD5");

  const entryAfterMd5 = good();
  entryAfterMd5.copyWithin(7 * 32, 0, 32);
  assert.equal(codeOf(() => parsePartitionTable(entryAfterMd5, md5, MB4)), "PT_MD5");

  assert.equal(codeOf(() => parsePartitionTable(good().subarray(0, 7 * 32), md5, MB4)), "PT_NO_TERMINATOR");
  const full = new Uint8Array(0xc00);
  for (let i = 0; i < 96; i++) full.set(good().subarray(0, 32), i * 32);
  assert.equal(codeOf(() => parsePartitionTable(full, md5, MB4)), "PT_NO_TERMINATOR");

  assert.equal(codeOf(() => parsePartitionTable(build((p) => p.filter((x) => x.label !== "otadata")), md5, MB4)), "PT_NO_OTADATA");
  assert.equal(codeOf(() => parsePartitionTable(build((p) => p.filter((x) => x.label !== "ota_0")), md5, MB4)), "PT_OTA_GAP");
  assert.equal(codeOf(() => parsePartitionTable(good(), md5, 0x200000)), "PT_OUT_OF_RANGE");
  assert.equal(
    codeOf(() => parsePartitionTable(build((p) => (p[4].offset = 0x180000, p)), md5, MB4)),
    "PT_OUT_OF_RANGE",
    "overlapping slots",
  );
  assert.equal(codeOf(() => parsePartitionTable(build((p) => (p[4].offset = 0x198000, p)), md5, MB4)), "PT_OUT_OF_RANGE", "app not 64K aligned");
  assert.equal(codeOf(() => parsePartitionTable(build((p) => (p[1].size = 0x1000, p)), md5, MB4)), "PT_OUT_OF_RANGE", "otadata one sector");
  assert.equal(codeOf(() => parsePartitionTable(build((p) => (p[4].subtype = "ota_0", p)), md5, MB4)), "PT_DUPLICATE");
  assert.equal(
    codeOf(() => parsePartitionTable(build((p) => [...p, { label: "od2", type: "data", subtype: "ota", offset: MB4, size: 0x2000 }]), md5, 2 * MB4)),
    "PT_DUPLICATE",
  );
  assert.equal(codeOf(() => parsePartitionTable(build((p) => p.filter((x) => x.type !== "app")), md5, MB4)), "PT_NO_TARGET");
});

test("OTA slots listed out of order are still indexed by subtype", () => {
  const parts = [CSV_6_2[0], CSV_6_2[1], CSV_6_2[2], CSV_6_2[4], CSV_6_2[3], CSV_6_2[5]];
  const t = parsePartitionTable(buildPartitionTable(parts), md5, MB4);
  assert.deepEqual(t.ota.map((p) => p.label), ["ota_0", "ota_1"]);
});

test("a factory-only table needs no otadata", () => {
  const t = parsePartitionTable(
    buildPartitionTable([{ label: "factory", type: "app", subtype: "factory", offset: 0x10000, size: 0x1f0000 }]),
    md5,
    MB4,
  );
  assert.equal(t.otadata, null);
  assert.equal(t.ota.length, 0);
  assert.equal(t.factory?.size, 0x1f0000);
});

test("read through a reader, the table comes entry by entry: 32-byte reads, and the MD5's prefix once", () => {
  const golden = new Uint8Array(0xc00).fill(0xff);
  golden.set(GOLDEN_6_2);
  const reads: string[] = [];
  const viaReader = parsePartitionTable(
    (o, n) => {
      reads.push(o + "+" + n);
      return golden.slice(o, o + n);
    },
    md5,
    MB4,
  );
  assert.deepEqual(viaReader, parsePartitionTable(golden, md5, MB4));
  // six entries, the MD5 entry (and the MD5 over the six before it), the terminator
  assert.deepEqual(reads, ["0+32", "32+32", "64+32", "96+32", "128+32", "160+32", "192+32", "0+192", "224+32"]);
});

test("a reader's table with a bad MD5 is refused like a byte array's", () => {
  const bad = new Uint8Array(0xc00).fill(0xff);
  bad.set(GOLDEN_6_2);
  bad[0xc0 + 16] ^= 1;
  assert.equal(codeOf(() => parsePartitionTable((o, n) => bad.slice(o, o + n), md5, MB4)), "PT_MD5");
});

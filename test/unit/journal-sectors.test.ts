import { test } from "node:test";
import assert from "node:assert/strict";
import { Journal, JournalRegion, SLOTS_PER_SECTOR } from "../../src/core/journal/journal";
import {
  RECORD_SIZE,
  COMMIT_OFFSET,
  CRC_OFFSET,
  PAYLOAD_MAX,
  KIND_STATE,
  KIND_CLEAR,
  NOTE_SIZE,
  encodeRecordBody,
  commitBytes,
  writeU32,
  encodeNote,
} from "../../src/core/journal/record";
import { OtaState, loadOtaState, saveOtaState } from "../../src/core/journal/ota-state";
import { crc32Update } from "../../src/core/esp32/crc32";
import { NorFlash } from "../../src/host/runtime/nor-flash";
import type { FlashPort } from "../../src/core/ports";

const GUARD = 0x1000;
const GUARD_BYTE = 0xa5;

/**
 * A chip holding the journal region between two guard sectors filled with a pattern; the port
 * maps the board's real addresses (region.offset...) onto it, so stray writes would show.
 */
function rig(region: JournalRegion, image?: (bytes: Uint8Array) => void) {
  const nor = new NorFlash({ size: region.size + 2 * GUARD, seed: 7 });
  nor.bytes.fill(GUARD_BYTE, 0, GUARD);
  nor.bytes.fill(GUARD_BYTE, GUARD + region.size);
  if (image) image(nor.bytes.subarray(GUARD, GUARD + region.size));
  const port = nor.asPort(region.offset - GUARD);
  return { nor, port, reboot: () => new Journal(port, region) };
}

function assertClean(nor: NorFlash, region: JournalRegion): void {
  assert.deepEqual(nor.violations, []);
  for (let i = 0; i < GUARD; i++) {
    assert.equal(nor.bytes[i], GUARD_BYTE);
    assert.equal(nor.bytes[GUARD + region.size + i], GUARD_BYTE);
  }
}

function payload(n: number): Uint8Array {
  const len = 1 + (n * 37) % PAYLOAD_MAX;
  const p = new Uint8Array(len);
  for (let i = 0; i < len; i++) p[i] = (n + i * 13) & 255;
  p[0] = n & 255;
  return p;
}

function midstate(bytes: number): Uint8Array {
  const st = new Uint8Array(88);
  for (let i = 0; i < 88; i++) st[i] = (i * 5 + bytes / 65536) & 255;
  writeU32(st, 16, bytes * 8);
  writeU32(st, 20, 0);
  return st;
}

function download(version: string, size: number, offset: number): OtaState {
  return {
    phase: "downloading",
    version,
    md5: "9e107d9d372bb6826bd81d3542a419d6",
    size,
    targetSlot: 0x190000,
    offset,
    md5State: midstate(offset),
    attempts: 0,
    freshUrlRequests: 0,
    failedMd5Count: 0,
    previousSlot: 0x10000,
    bootCount: 0,
    taskId: "184467",
    fwType: "mcu",
  };
}

const SMALL: JournalRegion = { offset: 0x310000, size: 0x2000 };

test("the region must be whole sectors, at least two", () => {
  const nor = new NorFlash({ size: 0x10000 });
  for (const region of [
    { offset: 0x1000, size: 0x1000 },
    { offset: 0x1800, size: 0x2000 },
    { offset: 0x1000, size: 0x2800 },
    { offset: -0x1000, size: 0x2000 },
  ]) {
    assert.throws(() => new Journal(nor.asPort(), region), { code: "BOARD_INVALID" }, JSON.stringify(region));
  }
  assert.throws(() => new Journal(nor.asPort(), null as unknown as JournalRegion), { code: "BOARD_INVALID" });
});

test("a blank region loads as null, and a record survives a reboot", () => {
  const { nor, reboot } = rig(SMALL);
  const j = reboot();
  assert.equal(j.load(), null);
  j.append(payload(1));
  assert.deepEqual(j.load(), payload(1));
  assert.deepEqual(reboot().load(), payload(1));
  assertClean(nor, SMALL);
});

test("the journal writes exactly the bytes record.ts lays out: records, commit words and notes", () => {
  // journal.ts builds and checks records and notes inline; record.ts's coders are the reference.
  const { nor, reboot } = rig(SMALL);
  const j = reboot();
  const note = new Uint8Array(20).map((_, i) => 200 - i);
  j.append(payload(5));
  j.append(payload(6), note);
  j.clear();
  const region = nor.bytes.subarray(GUARD, GUARD + SMALL.size);
  const slot = (i: number) => region.subarray(i * RECORD_SIZE, (i + 1) * RECORD_SIZE);
  // The first record goes to slot 0 with sequence 0, its note to the next slot, the clear after it.
  assert.deepEqual(slot(0).subarray(0, COMMIT_OFFSET), encodeRecordBody(0, KIND_STATE, payload(5)));
  assert.deepEqual(slot(0).subarray(COMMIT_OFFSET), commitBytes());
  assert.deepEqual(slot(1).subarray(0, NOTE_SIZE), encodeNote(0, note));
  assert.ok(slot(1).subarray(NOTE_SIZE).every((b) => b === 0xff));
  assert.deepEqual(slot(2).subarray(0, COMMIT_OFFSET), encodeRecordBody(1, KIND_CLEAR, new Uint8Array(0)));
  assert.deepEqual(slot(2).subarray(COMMIT_OFFSET), commitBytes());
  assert.ok(region.subarray(3 * RECORD_SIZE).every((b) => b === 0xff));
  assertClean(nor, SMALL);
});

test("append without a prior load continues after the records already there", () => {
  const { nor, reboot } = rig(SMALL);
  reboot().append(payload(1));
  reboot().append(payload(2));
  reboot().append(payload(3));
  assert.deepEqual(reboot().load(), payload(3));
  assertClean(nor, SMALL);
});

test("the newest record wins across many sector wraps, with one erase per 16 records", () => {
  for (const region of [SMALL, { offset: 0x310000, size: 0x3000 }]) {
    const { nor, reboot } = rig(region);
    let j = reboot();
    const total = 5 * SLOTS_PER_SECTOR * (region.size / 0x1000) + 3;
    for (let n = 0; n < total; n++) {
      j.append(payload(n));
      // Reboot at varied points so both the in-memory and the scanned position are exercised.
      if (n % 5 === 0) j = reboot();
      assert.deepEqual(reboot().load(), payload(n), "after append " + n);
    }
    assert.equal(nor.stats.erases, Math.ceil(total / SLOTS_PER_SECTOR));
    assertClean(nor, region);
  }
});

test("wear: a 1.5 MiB download saved every 64 KB plus phase changes stays under 4 erases per MiB", () => {
  const region = { offset: 0x310000, size: 0x10000 };
  const { nor, reboot } = rig(region);
  const size = 1536 * 1024;
  const updates = 10;
  const journal = reboot();
  for (let u = 0; u < updates; u++) {
    const version = "1." + u;
    saveOtaState(journal, download(version, size, 0));
    for (let offset = 65536; offset <= size; offset += 65536) saveOtaState(journal, download(version, size, offset));
    const done = download(version, size, size);
    saveOtaState(journal, { ...done, phase: "verified" });
    saveOtaState(journal, { ...done, phase: "switching" });
    saveOtaState(journal, { ...done, phase: "trial", bootCount: 1 });
    saveOtaState(journal, { ...done, phase: "trial", bootCount: 2 });
    journal.clear();
    const mib = ((u + 1) * size) / (1024 * 1024);
    // Every erase on this chip is the journal's (the guard sectors stay untouched, assertClean).
    assert.ok(nor.stats.erases <= 4 * mib, nor.stats.erases + " erases for " + mib + " MiB");
    if (u === 0) assert.ok(nor.stats.erases <= 6, "first 1.5 MiB update: " + nor.stats.erases + " erases");
  }
  // 30 appends per update (start + 24 progress + 4 phase changes + clear), 16 records per erase.
  assert.equal(nor.stats.erases, Math.ceil((30 * updates) / 16));
  assert.equal(loadOtaState(reboot()), null);
  assertClean(nor, region);
});

test("wear: a 1.5 MiB download noted every 4 KB sector, plus phase changes, stays under 4 erases per MiB", () => {
  const region = { offset: 0x310000, size: 0x10000 };
  const { nor, reboot } = rig(region);
  const size = 1536 * 1024;
  const updates = 6;
  let journal = reboot();
  for (let u = 0; u < updates; u++) {
    const version = "1." + u;
    saveOtaState(journal, download(version, size, 0));
    for (let offset = 4096; offset < size; offset += 4096) {
      saveOtaState(journal, download(version, size, offset), true);
      if (offset % 262144 === 0) {
        // a reboot (power cut) resumes from the newest note, and noting goes on after it
        journal = reboot();
        assert.equal(loadOtaState(journal)!.offset, offset);
      }
    }
    const done = download(version, size, size);
    saveOtaState(journal, { ...done, phase: "verified" });
    saveOtaState(journal, { ...done, phase: "switching" });
    saveOtaState(journal, { ...done, phase: "trial", bootCount: 1 });
    journal.clear();
    const mib = ((u + 1) * size) / (1024 * 1024);
    assert.ok(nor.stats.erases <= 4 * mib, nor.stats.erases + " erases for " + mib + " MiB");
  }
  // 383 notes and 5 records per update: 121 appends per sector erase at best, one record per sector at worst
  assert.ok(nor.stats.erases >= Math.floor((383 * updates) / 121), nor.stats.erases + " erases");
  assert.equal(loadOtaState(reboot()), null);
  assertClean(nor, region);
});

test("a note amends the newest state record; a whole record after it, or a reboot, sees the right one", () => {
  const { nor, port, reboot } = rig(SMALL);
  const j = reboot();
  const size = 1000000;
  saveOtaState(j, download("2.0", size, 8192));
  const writes = nor.stats.writes;
  saveOtaState(j, download("2.0", size, 12288), true);
  assert.equal(nor.stats.writes, writes + 1, "a note is one write");
  assert.equal(nor.stats.bytesWritten, 256 + 32, "one record (252 + 4) and one 32-byte note");
  const r = reboot();
  assert.deepEqual(loadOtaState(r), download("2.0", size, 12288));
  assert.equal(r.note!.length, 20);
  // a progress save that cannot be a note (offset not a multiple of 64) is a whole record
  saveOtaState(j, download("2.0", size, 12300), true);
  assert.deepEqual(loadOtaState(reboot()), download("2.0", size, 12300));
  // the older note does not apply to the newer record
  saveOtaState(reboot(), { ...download("2.0", size, 12300), attempts: 5 });
  assert.deepEqual(loadOtaState(reboot()), { ...download("2.0", size, 12300), attempts: 5 });
  // a note of a state that is not downloading is never written: a whole record instead
  const before = nor.stats.bytesWritten;
  saveOtaState(j, { ...download("2.0", size, size), phase: "verified" }, true);
  assert.equal(nor.stats.bytesWritten - before, 256);
  // notes continue after a clear only once a new state record is there
  j.clear();
  saveOtaState(j, download("3.0", size, 0));
  saveOtaState(j, download("3.0", size, 4096), true);
  assert.deepEqual(loadOtaState(new Journal(port, SMALL)), download("3.0", size, 4096));
  assertClean(nor, SMALL);
});

test("a note alone goes only where a note can: false, and nothing written, when the sector has no entry left", () => {
  const { nor, reboot } = rig(SMALL);
  const j = reboot();
  const size = 1000000;
  const note = (at: number) => {
    const n = new Uint8Array(20);
    writeU32(n, 0, at);
    return n;
  };
  // nothing to amend: an empty journal takes no note
  assert.equal(j.append(undefined, note(4096)), false);
  assert.equal(nor.stats.writes, 0);
  // a record in slot 0 leaves 15 slots of 8 entries in its sector
  saveOtaState(j, download("2.0", size, 0));
  for (let k = 1; k <= 15 * 8; k++) assert.equal(j.append(undefined, note(k * 4096)), true, "entry " + k);
  const writes = nor.stats.writes;
  assert.equal(j.append(undefined, note(121 * 4096)), false);
  assert.equal(nor.stats.writes, writes, "nothing written for the note that did not fit");
  assert.equal(nor.stats.erases, 1, "and nothing erased");
  // saveOtaState then falls back to the whole state as a record, in the next sector
  saveOtaState(j, download("2.0", size, 121 * 4096), true);
  assert.equal(nor.stats.erases, 2);
  assert.deepEqual(loadOtaState(reboot()), download("2.0", size, 121 * 4096));
  // a progress save whose midstate does not cover `offset` bytes is refused, not noted
  saveOtaState(j, download("2.0", size, 122 * 4096), true);
  assert.throws(() => saveOtaState(j, { ...download("2.0", size, 123 * 4096), md5State: download("2.0", size, 0).md5State }, true), /JOURNAL_STATE/);
  assert.deepEqual(loadOtaState(reboot()), download("2.0", size, 122 * 4096));
  assertClean(nor, SMALL);
});

test("a torn note, or one for another record, leaves the previous checkpoint", () => {
  const size = 1000000;
  for (let cutAt = 1; cutAt < 32; cutAt += 3) {
    const { nor, reboot } = rig(SMALL);
    const j = reboot();
    saveOtaState(j, download("2.0", size, 0));
    saveOtaState(j, download("2.0", size, 4096), true);
    // the next note lands right after the first one, torn after `cutAt` bytes
    const at = GUARD + 256 + 32;
    const note = new Uint8Array(32).fill(0xff);
    const whole = (() => {
      const probe = rig(SMALL);
      const pj = probe.reboot();
      saveOtaState(pj, download("2.0", size, 0));
      saveOtaState(pj, download("2.0", size, 4096), true);
      saveOtaState(pj, download("2.0", size, 8192), true);
      return probe.nor.bytes.slice(at, at + 32);
    })();
    note.set(whole.subarray(0, cutAt));
    nor.bytes.set(note, at);
    assert.deepEqual(loadOtaState(reboot()), download("2.0", size, 4096), "torn after " + cutAt + " bytes");
    // and the journal goes on after the torn entry, without programming over it
    const k = reboot();
    saveOtaState(k, download("2.0", size, 8192), true);
    assert.deepEqual(loadOtaState(reboot()), download("2.0", size, 8192));
    assert.deepEqual(nor.bytes.slice(at, at + 32), note);
    assertClean(nor, SMALL);
  }
  // a valid note whose sequence is not the record's is not applied
  const { nor, reboot } = rig(SMALL);
  saveOtaState(reboot(), download("2.0", size, 0));
  nor.bytes.set(encodeNote(99, new Uint8Array(20).fill(1)), GUARD + 256);
  assert.deepEqual(loadOtaState(reboot()), download("2.0", size, 0));
});

test("random junk in a fresh region loads as null, and the journal then works", () => {
  for (let seed = 1; seed <= 5; seed++) {
    let x = seed * 2654435761;
    const { nor, reboot } = rig(SMALL, (b) => {
      for (let i = 0; i < b.length; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        b[i] = x >>> 24;
      }
    });
    const j = reboot();
    assert.equal(j.load(), null);
    for (let n = 0; n < 40; n++) {
      j.append(payload(n));
      assert.deepEqual(reboot().load(), payload(n));
    }
    assertClean(nor, SMALL);
  }
});

test("junk that looks like a record (magic and commit word intact, CRC wrong) is ignored", () => {
  const { nor, reboot } = rig(SMALL, (b) => {
    // Sector 1 slot 3: a record with a higher sequence than anything real, one payload bit flipped.
    const body = encodeRecordBody(1000, KIND_STATE, payload(99));
    body[20] ^= 1;
    b.set(body, 0x1000 + 3 * RECORD_SIZE);
    b.set(commitBytes(), 0x1000 + 3 * RECORD_SIZE + COMMIT_OFFSET);
  });
  const j = reboot();
  assert.equal(j.load(), null);
  j.append(payload(1));
  assert.deepEqual(reboot().load(), payload(1));
  assertClean(nor, SMALL);
});

test("a torn record is skipped, never programmed over, and later records win", () => {
  const { nor, port, reboot } = rig(SMALL);
  reboot().append(payload(1));
  reboot().append(payload(2));
  nor.cutPowerAfter(1); // the body write of the third record
  assert.throws(() => reboot().append(payload(3)), { name: "PowerCutError" });
  nor.powerOn();
  const tornSlot = port.read(SMALL.offset + 2 * RECORD_SIZE, RECORD_SIZE);
  assert.ok(tornSlot.some((b) => b !== 0xff), "the cut left part of the body programmed");
  assert.deepEqual(reboot().load(), payload(2));
  const j = reboot();
  j.append(payload(4));
  j.append(payload(5));
  assert.deepEqual(reboot().load(), payload(5));
  assert.deepEqual(port.read(SMALL.offset + 2 * RECORD_SIZE, RECORD_SIZE), tornSlot, "torn slot untouched");
  assertClean(nor, SMALL);
});

test("a record of an unknown format that is newest hides the older ones (no stale state after a downgrade)", () => {
  const { nor, port, reboot } = rig(SMALL);
  const j = reboot();
  j.append(payload(1));
  j.append(payload(2));
  const future = encodeRecordBody(2, KIND_STATE, payload(3));
  future[4] = 2; // format version written by some newer firmware
  writeU32(future, CRC_OFFSET, crc32Update(0, future, 0, CRC_OFFSET));
  port.write(SMALL.offset + 2 * RECORD_SIZE, future);
  port.write(SMALL.offset + 2 * RECORD_SIZE + COMMIT_OFFSET, commitBytes());
  assert.equal(reboot().load(), null);
  const k = reboot();
  k.append(payload(4));
  assert.deepEqual(reboot().load(), payload(4));
  assertClean(nor, SMALL);
});

test("clear makes load() null, writes nothing when already empty, and the journal goes on", () => {
  const { nor, reboot } = rig(SMALL);
  const j = reboot();
  j.clear();
  assert.equal(nor.stats.writes, 0, "clear of an empty journal writes nothing");
  j.append(payload(1));
  j.clear();
  assert.equal(j.load(), null);
  assert.equal(reboot().load(), null);
  const writes = nor.stats.writes;
  reboot().clear();
  assert.equal(nor.stats.writes, writes, "second clear writes nothing");
  j.append(payload(2));
  assert.deepEqual(reboot().load(), payload(2));
  assertClean(nor, SMALL);
});

test("a payload over 236 bytes is refused before touching flash", () => {
  const { nor, reboot } = rig(SMALL);
  assert.throws(() => reboot().append(new Uint8Array(PAYLOAD_MAX + 1)), { code: "JOURNAL_STATE" });
  assert.equal(nor.ops, 0);
});

test("a slot whose write does not stick is skipped; a dead flash fails without erasing the newest record", () => {
  const { nor, port, reboot } = rig(SMALL);
  reboot().append(payload(1));
  let badWrites = 1;
  const flaky: FlashPort = {
    read: (o, n) => port.read(o, n),
    eraseSector: (o) => port.eraseSector(o),
    write: (o, d) => {
      // Drops bits the way a worn or glitching chip would; the read-back must notice.
      if (badWrites > 0) {
        badWrites--;
        const broken = d.slice();
        broken[0] &= 0x0f;
        port.write(o, broken);
        return;
      }
      port.write(o, d);
    },
  };
  const j = new Journal(flaky, SMALL);
  j.append(payload(2));
  assert.deepEqual(reboot().load(), payload(2));
  badWrites = Infinity;
  const writesBefore = nor.stats.writes;
  assert.throws(() => j.append(payload(3)), { code: "JOURNAL_WRITE" });
  assert.ok(nor.stats.writes > writesBefore);
  assert.deepEqual(reboot().load(), payload(2), "newest record kept");
  assertClean(nor, SMALL);
});

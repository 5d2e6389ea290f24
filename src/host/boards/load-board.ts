// Loads and validates boards/<name>.json: JSON Schema first (shape and types), then the
// rules a schema cannot express (overlaps, alignment, the journal's place). Every error
// names the file, the field and what was expected, so a bad board fails the build clearly.
import { readFileSync, readdirSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import type { BoardConfig, PartitionSpec } from "../../core/board";
import type { Provision } from "../../core/provision";

export const BOARDS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../boards");
const SCHEMA_PATH = join(BOARDS_DIR, "board.schema.json");
const SECTOR = 4096;

export class BoardError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: invalid board file\n` + problems.map((p) => "  - " + p).join("\n"));
  }
}

let validator: ReturnType<Ajv["compile"]> | undefined;
function schemaValidator() {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: true });
    validator = ajv.compile(JSON.parse(readFileSync(SCHEMA_PATH, "utf8")));
  }
  return validator;
}

function describeAjvError(e: { instancePath: string; message?: string; params: Record<string, unknown>; keyword: string }): string {
  const where = e.instancePath === "" ? "(top level)" : e.instancePath;
  if (e.keyword === "additionalProperties") return `${where}: unknown field "${String(e.params.additionalProperty)}"`;
  if (e.keyword === "required") return `${where}: missing field "${String(e.params.missingProperty)}"`;
  if (e.keyword === "enum") return `${where}: must be one of ${JSON.stringify(e.params.allowedValues)}`;
  return `${where}: ${e.message ?? e.keyword}`;
}

const toNumber = (v: number | string): number => (typeof v === "number" ? v : parseInt(v, 16));

/** Validates a parsed board object; `file` is used in messages and to check the name. */
export function validateBoard(raw: unknown, file: string): BoardConfig {
  const validate = schemaValidator();
  if (!validate(raw)) {
    // oneOf failures repeat every branch's complaint; keep one line per field
    const lines = [...new Set((validate.errors ?? []).map(describeAjvError))];
    throw new BoardError(file, lines);
  }
  const r = raw as any;
  const board: BoardConfig = {
    name: r.name,
    chip: r.chip,
    flash: { size: toNumber(r.flash.size), base: toNumber(r.flash.base) },
    partitionTable: {
      offset: toNumber(r.partitionTable.offset),
      partitions: r.partitionTable.partitions.map(
        (p: any): PartitionSpec => ({ label: p.label, type: p.type, subtype: p.subtype, offset: toNumber(p.offset), size: toNumber(p.size) }),
      ),
    },
    journal: { offset: toNumber(r.journal.offset), size: toNumber(r.journal.size) },
    mqtt: { ...r.mqtt },
    download: { ...r.download },
    progress: { ...r.progress },
    md5: r.md5,
    bootloaderRollback: r.bootloaderRollback,
    image: { ...r.image },
    trial: { waitForApp: false, maxHoldMs: 60000, ...r.trial },
    sign: { required: r.sign?.required ?? true, allowDowngrade: r.sign?.allowDowngrade ?? false },
    app: r.app ? { maxBytes: 65536, trialMs: 10000, ...r.app } : null,
  };
  if (r.provision) board.provision = { ...r.provision };
  const problems = checkRules(board, file);
  if (problems.length) throw new BoardError(file, problems);
  return board;
}

const hex = (n: number) => "0x" + n.toString(16);

function checkRules(b: BoardConfig, file: string): string[] {
  const out: string[] = [];
  const expectedName = basename(file).replace(/\.json$/, "");
  if (b.name !== expectedName) out.push(`/name: "${b.name}" must equal the file name "${expectedName}"`);
  if (b.flash.size % SECTOR !== 0 || b.flash.size < 0x40000) out.push(`/flash/size: ${hex(b.flash.size)} must be a multiple of 4096 and at least 256 KB`);

  const pt = b.partitionTable;
  if (pt.offset % SECTOR !== 0) out.push(`/partitionTable/offset: ${hex(pt.offset)} must be 4096-aligned`);
  if (pt.offset + SECTOR > b.flash.size) out.push(`/partitionTable/offset: ${hex(pt.offset)} lies outside the ${hex(b.flash.size)}-byte flash`);

  const regions: { name: string; start: number; end: number }[] = [{ name: "partition table", start: pt.offset, end: pt.offset + SECTOR }];
  const labels = new Set<string>();
  const otaIndexes: number[] = [];
  let otadataCount = 0;
  pt.partitions.forEach((p, i) => {
    const at = `/partitionTable/partitions/${i}`;
    if (labels.has(p.label)) out.push(`${at}/label: "${p.label}" is used twice`);
    labels.add(p.label);
    const align = p.type === "app" ? 0x10000 : SECTOR;
    if (p.offset % align !== 0) out.push(`${at}/offset: ${hex(p.offset)} must be ${hex(align)}-aligned for a ${p.type} partition`);
    if (p.size === 0 || p.size % SECTOR !== 0) out.push(`${at}/size: ${hex(p.size)} must be a non-zero multiple of 4096`);
    if (p.offset + p.size > b.flash.size) out.push(`${at}: "${p.label}" ends at ${hex(p.offset + p.size)}, past the end of the ${hex(b.flash.size)}-byte flash`);
    for (const r of regions) {
      if (p.offset < r.end && r.start < p.offset + p.size) out.push(`${at}: "${p.label}" (${hex(p.offset)}..${hex(p.offset + p.size)}) overlaps ${r.name} (${hex(r.start)}..${hex(r.end)})`);
    }
    regions.push({ name: `partition "${p.label}"`, start: p.offset, end: p.offset + p.size });
    const ota = /^ota_(\d+)$/.exec(p.subtype);
    if (p.type === "app" && ota) otaIndexes.push(Number(ota[1]));
    if (p.type === "app" && p.subtype === "ota") out.push(`${at}/subtype: "ota" is a data subtype; app slots are "factory" or "ota_N"`);
    if (p.type === "data" && p.subtype === "ota") {
      otadataCount++;
      if (p.size !== 0x2000) out.push(`${at}/size: otadata must be exactly 0x2000 (two sectors), got ${hex(p.size)}`);
    }
  });
  otaIndexes.sort((a, c) => a - c);
  otaIndexes.forEach((n, i) => {
    if (n !== i) out.push(`/partitionTable/partitions: OTA app slots must be ota_0, ota_1, ... without gaps; found ${otaIndexes.map((x) => "ota_" + x).join(", ")}`);
  });
  const hasFactory = pt.partitions.some((p) => p.type === "app" && p.subtype === "factory");
  if (otaIndexes.length + (hasFactory ? 1 : 0) < 2) out.push(`/partitionTable/partitions: need two app slots to update into (factory + ota_0, or ota_0 + ota_1)`);
  if (otaIndexes.length > 0 && otadataCount !== 1) out.push(`/partitionTable/partitions: exactly one otadata partition (data/ota) is required when OTA slots exist, found ${otadataCount}`);

  const j = b.journal;
  if (j.offset % SECTOR !== 0 || j.size % SECTOR !== 0 || j.size < 2 * SECTOR) out.push(`/journal: offset ${hex(j.offset)} and size ${hex(j.size)} must be whole 4096-byte sectors, at least two`);
  const home = pt.partitions.find((p) => j.offset >= p.offset && j.offset + j.size <= p.offset + p.size);
  if (!home) out.push(`/journal: ${hex(j.offset)}..${hex(j.offset + j.size)} must lie inside one data partition`);
  else if (home.type !== "data" || ["ota", "nvs", "phy", "spiffs", "fat", "littlefs", "nvs_keys", "efuse"].includes(home.subtype))
    out.push(`/journal: lies in partition "${home.label}" (${home.type}/${home.subtype}); it needs a data partition of its own (e.g. subtype 0x40 or "undefined")`);

  const pv = b.provision;
  if (pv) {
    const bad = provisionProblem(pv, b);
    if (bad) out.push(`/provision: ${bad}`);
  }
  if (b.download.backoffMaxMs < b.download.backoffMinMs) out.push(`/download/backoffMaxMs: must be >= backoffMinMs (${b.download.backoffMinMs})`);
  if (b.download.requestTimeoutMs < b.download.stallTimeoutMs) out.push(`/download/requestTimeoutMs: must be >= stallTimeoutMs (${b.download.stallTimeoutMs})`);
  return out;
}

/** What is wrong with a provisioning object for `board` (its auth mode, whether updates must be signed), or null. */
export function provisionProblem(p: Provision, board: BoardConfig): string | null {
  const auth = board.mqtt.auth;
  if (board.sign.required && !p.signKey) return `signKey is required while the board's sign.required is true (base64 of the key file from \`npm run keygen\`), or set "sign": { "required": false } for a lab board`;
  if (auth === "tencent" && !p.deviceSecret) return `deviceSecret is required: the board authenticates with "tencent" (the base64 device secret from the console)`;
  if (auth === "plain" && (p.username === undefined || p.password === undefined)) return `username and password are required: the board authenticates with "plain"`;
  return null;
}

/** The identity the simulation gives `board` (its "provision" field); throws naming the board if it has none. */
export function simProvision(board: BoardConfig): Provision {
  if (!board.provision) throw new Error(`board ${board.name} has no "provision": the simulation needs an identity for it`);
  return board.provision;
}

export function loadBoard(path: string): BoardConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new BoardError(path, [`cannot read: ${(e as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new BoardError(path, [`not valid JSON: ${(e as Error).message}`]);
  }
  return validateBoard(raw, path);
}

/** Every boards/*.json file (the schema excluded). */
export function boardFiles(dir = BOARDS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json") && f !== "board.schema.json")
    .sort()
    .map((f) => join(dir, f));
}

// The board description the agent is compiled with: boards/<name>.json after
// validation against boards/board.schema.json and normalisation (hex strings -> numbers)
// by src/host/boards/load-board.ts. All flash addresses are offsets from the start of the
// flash chip; `flash.base` is added only by the platform's Flash port. The device's identity
// and secrets are not here: they are its provisioning file (provision.ts).
import type { Provision } from "./provision";

export type Chip = "esp32" | "esp32s2" | "esp32s3" | "esp32c3";

export interface PartitionSpec {
  label: string;
  /** "app" | "data" or a numeric type. */
  type: string;
  /** "factory" | "ota_0".."ota_15" | "ota" | "nvs" | "phy" | "spiffs" | "fat" | "undefined" | ... */
  subtype: string;
  offset: number;
  size: number;
}

export interface BoardConfig {
  name: string;
  chip: Chip;
  flash: {
    /** Chip size in bytes. */
    size: number;
    /** Address at which Espruino's Flash module sees offset 0 (0 on an ESP32, 0x10000000 on Espruino's Linux build). */
    base: number;
  };
  partitionTable: {
    offset: number;
    /** The layout the board is flashed with (host tools only: the build leaves it out of bundles, the agent reads the real table). */
    partitions: PartitionSpec[];
  };
  /** Flash region (whole 4 KB sectors, at least 2) where the agent keeps its journal. */
  journal: { offset: number; size: number };
  /**
   * The identity the simulation and the bench give this board (a real board gets its own
   * provisioning file at flash time). Host side only: the build drops it from every bundle.
   */
  provision?: Provision;
  mqtt: {
    /** "{productId}" is replaced by the device's productId. */
    host: string;
    port: number;
    tls: boolean;
    /** "tencent": key authentication with the provisioned deviceSecret; "plain": username/password. */
    auth: "tencent" | "plain";
    keepaliveSec: number;
  };
  download: {
    /** Bytes asked for per Range request (each request is a new connection on Espruino). */
    spanBytes: number;
    /** Abandon a request when no byte arrived for this long. */
    stallTimeoutMs: number;
    /** Abandon a request that has not finished after this long. */
    requestTimeoutMs: number;
    /** Failed requests allowed per update before fail -1. */
    retryBudget: number;
    backoffMinMs: number;
    backoffMaxMs: number;
    /** How many times a 403 may be answered by asking the cloud for a fresh URL before fail -3. */
    freshUrlRequests: number;
  };
  progress: { minStepPercent: number; minIntervalMs: number };
  md5: "js" | "rom";
  /** Whether the bootloader was built with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE. */
  bootloaderRollback: boolean;
  image: {
    /** When set, an image whose app descriptor names another project is refused. */
    projectName: string | null;
    /** Check the appended SHA-256 when the image header says it has one. */
    verifySha256: boolean;
  };
  /** Signed updates (docs/security.md): required unless a lab board opts out; downgrades refused unless allowed. */
  sign: { required: boolean; allowDowngrade: boolean };
  /**
   * Updates of the user's JavaScript application (docs/app-ota.md); null: firmware only.
   * fwType: the module name the cloud puts in fw_type for the application (Tencent's default
   * module, the firmware, has none or another); maxBytes: the largest package accepted;
   * trialMs: how long a new application has to prove itself (see its package's confirm mode).
   */
  app: { fwType: string; maxBytes: number; trialMs: number } | null;
  /** The agent's own trial boot (used when the bootloader has no rollback). */
  trial: {
    healthyWithinMs: number;
    maxBoots: number;
    /** Healthy only once the application also says so (OTA:healthy). */
    waitForApp: boolean;
    /** Longest the application may hold off one of the agent's reboots (OTA:hold). */
    maxHoldMs: number;
  };
}

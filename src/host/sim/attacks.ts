// Attacks on an update that signed updates (docs/security.md) must stop, for
// `npm run sim -- --attack NAME`, the end-to-end tests and the reliability campaign.
// Each one is a complete runOta option set: the attacker stands in for the broker (Espruino's
// TLS checks no certificate), so it chooses the URL, MD5 and size of the update it pushes.
import { createHash } from "node:crypto";
import { buildAppImage } from "../image/app-image-builder";
import type { OtaRunOptions } from "./ota-run";

export const ATTACKS = ["swap-image", "swap-image-unsigned", "downgrade"] as const;
export type Attack = (typeof ATTACKS)[number];

export const ATTACK_HELP: Record<Attack, string> = {
  "swap-image": "a man in the middle replaces the image and the MD5 in the push with its own file, signed with its own key",
  "swap-image-unsigned": "the same with an unsigned file",
  downgrade: "a correctly signed file of an older version than the running one",
};

/** A key that is not the product's: what an attacker signs with. */
export const ATTACKER_KEY = createHash("sha256").update("not the product's key").digest();

/** Options that turn a normal run into the attack (image size and seed as for a normal run). */
export function attackRun(attack: Attack, o: { imageSize: number; seed?: number }): OtaRunOptions {
  const seed = (o.seed ?? 1) + 666;
  // the attacker's image claims the version the cloud announced, so it looks like the real one
  const evil = () => buildAppImage({ version: "1.1.0", projectName: "espruino", size: o.imageSize, seed });
  switch (attack) {
    case "swap-image":
      return { fromVersion: "1.0.0", toVersion: "1.1.0", image: evil(), sign: { key: ATTACKER_KEY } };
    case "swap-image-unsigned":
      return { fromVersion: "1.0.0", toVersion: "1.1.0", image: evil(), sign: false };
    case "downgrade":
      // the board runs 1.1.0; 1.0.5 is a genuine, correctly signed older release
      return { fromVersion: "1.1.0", toVersion: "1.0.5", imageSize: o.imageSize, seed: o.seed };
  }
}

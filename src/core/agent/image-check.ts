// The optional structural check of a written slot (boards with image.verifySha256): the ESP32
// image's checksum and appended SHA-256, read back a few sectors per event-loop turn, since in
// JS this is slow on an ESP32 and must not starve MQTT. A module of its own so that boards
// without the check do not carry it (or the JS SHA-256) in their job bundle.
import type { Ports } from "../ports";
import { errorText } from "../errors";
import { ImageVerifier } from "../esp32/app-image";

/**
 * Calls `done(null)` when the `size`-byte image at `slot` is sound, else `done(reason)` (also
 * when `done(null)` itself throws). One callback rather than two: each is a closure on the board.
 * `fed`: a verifier that already took every byte as it was downloaded (Download.check), so only
 * its verdict is left; without one the slot is read back.
 */
export function checkImage(ports: Ports, slot: number, size: number, fed: ImageVerifier | null, done: (reason: string | null) => void): void {
  const v = fed || new ImageVerifier(true);
  let off = fed ? size : 0;
  const step = () => {
    try {
      for (let k = 0; k < 4 && off < size; k++, off += 4096) {
        const n = Math.min(4096, size - off);
        v.feed(ports.flash.read(slot + off, n), 0, n);
      }
      if (off < size) {
        ports.clock.after(0, step);
        return;
      }
      v.verify();
      done(null);
    } catch (e) {
      done(errorText(e));
    }
  };
  step();
}

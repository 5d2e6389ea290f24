// The platform's random source (SystemPort.random) yields a 32-bit integer, while tests and
// hosts often hand in Math.random. Accepting both keeps the MQTT code independent of which.

/** Maps the result of a random source to [0, 1): values already in [0, 1) pass through, anything else is read as a 32-bit integer. */
export function unitRandom(r: number): number {
  return r >= 0 && r < 1 ? r : (r >>> 0) / 4294967296;
}

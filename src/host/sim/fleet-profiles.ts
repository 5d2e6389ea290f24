// Network profiles of the fleet simulation: how each simulated board's link to the broker
// and to the firmware host behaves. They act on the device's own link (a proxy per device
// and server, see fleet-link.ts), so the servers stay the real ones: the broker and the
// local cloud's `send`-based firmware host.

export interface LinkBehaviour {
  /** Chance that a connection is cut (FIN, then close) somewhere in its first `cutWithinBytes` bytes towards the device. */
  cutChance: number;
  cutWithinBytes: number;
  /** Chance that a connection stalls (stops delivering, stays open) somewhere in its first `cutWithinBytes` bytes towards the device. */
  stallChance: number;
  /** A connection is also cut after a random time with this mean (exponential; 0: never). */
  dropMeanMs: number;
  /** Extra delay per delivered piece, uniformly in [min, max]. */
  latencyMs: [number, number];
  /** Bytes per second towards the device per connection (0: unlimited). */
  bytesPerSecond: number;
}

export interface NetworkProfile {
  name: string;
  description: string;
  /** The link to the firmware host (a new connection per Range request). */
  http: LinkBehaviour;
  /** The long-lived MQTT connection. */
  mqtt: LinkBehaviour;
}

const clean: LinkBehaviour = { cutChance: 0, cutWithinBytes: 0, stallChance: 0, dropMeanMs: 0, latencyMs: [0, 0], bytesPerSecond: 0 };

export const NETWORK_PROFILES: Record<string, NetworkProfile> = {
  good: {
    name: "good",
    description: "a clean LAN: nothing dropped or delayed",
    http: clean,
    mqtt: clean,
  },
  weak: {
    name: "weak",
    description: "weak Wi-Fi: 256 KB/s, some downloads cut or stalled, the MQTT link drops now and then",
    http: { cutChance: 0.15, cutWithinBytes: 65536, stallChance: 0.08, dropMeanMs: 0, latencyMs: [2, 20], bytesPerSecond: 256 * 1024 },
    mqtt: { cutChance: 0, cutWithinBytes: 0, stallChance: 0, dropMeanMs: 15000, latencyMs: [2, 20], bytesPerSecond: 0 },
  },
  lossy: {
    name: "lossy",
    description: "a lossy link: 96 KB/s with retransmission delays, a third of the downloads cut, MQTT drops often",
    http: { cutChance: 0.33, cutWithinBytes: 65536, stallChance: 0.03, dropMeanMs: 0, latencyMs: [10, 80], bytesPerSecond: 96 * 1024 },
    mqtt: { cutChance: 0, cutWithinBytes: 0, stallChance: 0, dropMeanMs: 6000, latencyMs: [10, 80], bytesPerSecond: 0 },
  },
};

export function networkProfile(name: string): NetworkProfile {
  const p = NETWORK_PROFILES[name];
  if (!p) throw new Error(`unknown network profile "${name}"; choose one of ${Object.keys(NETWORK_PROFILES).join(", ")}`);
  return p;
}

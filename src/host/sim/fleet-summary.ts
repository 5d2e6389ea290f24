// What `npm run sim -- --devices N` prints: a live one-line count while the fleet updates,
// then the per-device table of `ota-cloud` and the fleet's summary.
import { resultTable, formatBytes } from "../cloud/display";
import type { DeviceStatus } from "../cloud/service";
import type { FleetResult } from "./fleet";
import { NETWORK_PROFILES } from "./fleet-profiles";

/** "12.3 s  done 10 · failed 0 · downloading 35 · waiting 5" */
export function fleetProgressLine(statuses: DeviceStatus[], elapsedMs: number): string {
  const order = ["done", "failed", "burning", "downloading", "pending", "waiting", "timeout", "offline"];
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
  const parts = order.filter((k) => counts.get(k)).map((k) => `${k} ${counts.get(k)}`);
  const fetched = statuses.reduce((n, s) => n + s.bytes, 0);
  return `${(elapsedMs / 1000).toFixed(1).padStart(6)} s  ${parts.join(" · ")}  (${formatBytes(fetched)} fetched)`;
}

export function fleetSummary(r: FleetResult): string {
  const profile = NETWORK_PROFILES[r.network];
  return [
    `fleet        ${r.devices} simulated boards, network ${r.network}${profile ? ` (${profile.description})` : ""}`,
    `image        ${r.imageBytes} bytes`,
    `completed    ${r.completed}`,
    `failed       ${r.failed}`,
    `unfinished   ${r.unfinished}`,
    `fetched      ${r.bytesFetched} bytes served = ${r.ratio.toFixed(4)} x (${r.devices} x image)`,
    `received     ${r.bytesReceived} bytes by the boards, HTTP headers included = ${(r.bytesReceived / (r.devices * r.imageBytes)).toFixed(4)} x`,
    `link faults  ${r.links.cuts} downloads cut, ${r.links.stalls} stalled, ${r.links.drops} MQTT drops (${r.links.connections} connections)`,
    `time         ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join("\n");
}

export function fleetReport(r: FleetResult): string {
  return resultTable(r.statuses, r.imageBytes) + "\n\n" + fleetSummary(r);
}

// The bench device's identity, in one place: the espruino-linux board's simulation identity
// (boards/espruino-linux.json "provision", with the product key its updates are signed
// with). It is given to agentStorageFiles(), which writes it to the device the way
// `npm run flash -- --device` does, and used for the simulated cloud's device record.
import { join } from "node:path";
import type { Provision } from "../../core/provision";
import { BOARDS_DIR, loadBoard, simProvision } from "../boards/load-board";

export const BENCH_PROVISION: Provision = simProvision(loadBoard(join(BOARDS_DIR, "espruino-linux.json")));

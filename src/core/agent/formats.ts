// The flash formats the job needs only at its start (the layout check) and at the switch, the
// trial and a rollback, never during a download: the partition table, otadata, the app
// descriptor and the signature trailer. On Espruino they are their own Storage module
// (FORMATS_FILE, src/espruino/formats.ts) that the job require()s where it needs them and drops
// right after, so the ~13 functions are not in memory while a download holds its buffers.
// Host code and tests hand the job this same object, statically imported.
import { readLayout, readTable } from "./layout";
import { planSwitch, readOtadata } from "../esp32/otadata";
import { signCheck } from "../sign/check";

export const formats = { readLayout: readLayout, readTable: readTable, readOtadata: readOtadata, planSwitch: planSwitch, signCheck: signCheck };

export type Formats = typeof formats;

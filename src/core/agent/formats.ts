// What the job needs only at its start (the layout check, the journal's state, whether an update
// resumes the one in the journal) and at the switch, the trial and a rollback, never during a
// firmware download: the partition table, otadata, the app descriptor, the signature trailer and
// the journal state's decoder; and the application's files (app-files.ts): which one runs and a
// package's header. On
// Espruino they are their own Storage module (FORMATS_FILE, src/espruino/formats.ts) that the job
// require()s where it needs them and drops right after, so their functions are not in memory while
// a firmware download holds its buffers.
// Host code and tests hand the job this same object, statically imported.
import { readLayout } from "./layout";
import { applyOtadata } from "./apply-otadata";
import { signCheck } from "../sign/check";
import { failuresOf, loadOtaState, sameUpdate } from "../journal/ota-state";
import { appHeader, appInfo } from "./app-files";

export const formats = {
  readLayout: readLayout,
  applyOtadata: applyOtadata,
  signCheck: signCheck,
  loadOtaState: loadOtaState,
  sameUpdate: sameUpdate,
  failuresOf: failuresOf,
  appHeader: appHeader,
  appInfo: appInfo,
};

export type Formats = typeof formats;

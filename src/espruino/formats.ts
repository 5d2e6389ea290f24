// The formats module's entry point, installed as Storage's FORMATS_FILE: a Storage module whose
// exports is the object of src/core/agent/formats.ts. The job require()s it only where it needs
// it and drops it right after (job.ts), so it costs nothing during a download.
import { formats } from "../core/agent/formats";

export default formats;

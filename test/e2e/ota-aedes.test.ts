// End-to-end OTA in the host runtime against the in-process aedes broker.
import { endToEndSuite, slowerScenarios } from "./scenarios";

endToEndSuite("aedes");
slowerScenarios("aedes");

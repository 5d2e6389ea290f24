// The two OTA topics (docs/tencent-protocol.md#topics): the device publishes version
// and progress on $ota/report/<product>/<device> and subscribes to $ota/update/<product>/<device>.

import { otaError } from "../errors";

export interface OtaTopics {
  report: string;
  update: string;
}

// A name that is empty or holds "/", "+", "#" or a control character would address a
// different topic (or a wildcard) and fail silently at the broker, so refuse it here.
function checkTopicSegment(what: string, s: string): void {
  if (typeof s !== "string" || s.length === 0) throw otaError("BOARD_INVALID", what + " must be a non-empty string");
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 127 || c === 47 || c === 43 || c === 35) {
      throw otaError("BOARD_INVALID", what + " contains a character not allowed in an MQTT topic at index " + i);
    }
  }
}

export function otaTopics(productId: string, deviceName: string): OtaTopics {
  checkTopicSegment("productId", productId);
  checkTopicSegment("deviceName", deviceName);
  const suffix = productId + "/" + deviceName;
  return { report: "$ota/report/" + suffix, update: "$ota/update/" + suffix };
}

// Splits a firmware URL into what a raw-socket HTTP client needs. Only http and https:
// the URL comes from the cloud, so anything odd is refused rather than guessed at.
// One function on purpose: on Espruino every function costs JsVars while the job is loaded.
import { otaError } from "../errors";

export interface ParsedUrl {
  tls: boolean;
  /** Host name or address, IPv6 literals without their brackets. */
  host: string;
  port: number;
  /** Path and query exactly as given (never empty; the fragment is dropped: it is not sent). */
  path: string;
}

/** Throws otaError("MSG_INVALID") for anything but a well-formed http(s) URL. */
export function parseUrl(url: string): ParsedUrl {
  let why = "";
  let tls = false;
  let rest = "";
  let host = "";
  let port = 0;
  let path = "/";
  let i: number;
  let c: number;
  // each check sets `why` and breaks out; the one throw is at the end
  do {
    if (typeof url !== "string") {
      url = String(url);
      why = "is not a string";
      break;
    }
    const lower = url.substring(0, 8).toLowerCase();
    if (lower.substring(0, 7) === "http://") rest = url.substring(7);
    else if (lower === "https://") {
      tls = true;
      rest = url.substring(8);
    } else {
      why = "scheme is not http or https";
      break;
    }
    // Characters that cannot appear raw in a request line or a Host header: controls, space,
    // DEL and anything outside ASCII (the cloud sends percent-encoded URLs).
    for (i = 0; i < rest.length; i++) {
      c = rest.charCodeAt(i);
      if (c <= 32 || c >= 127) why = "has spaces, controls or non-ASCII characters";
    }
    if (why) break;

    const hash = rest.indexOf("#");
    if (hash >= 0) rest = rest.substring(0, hash);
    let slash = rest.indexOf("/");
    const query = rest.indexOf("?");
    if (query >= 0 && (slash < 0 || query < slash)) slash = query;
    const authority = slash < 0 ? rest : rest.substring(0, slash);
    if (slash >= 0) path = rest.substring(slash);
    if (path.charAt(0) === "?") path = "/" + path;

    if (authority.indexOf("@") >= 0) {
      why = "carries user credentials";
      break;
    }
    let portText = "";
    if (authority.charAt(0) === "[") {
      const close = authority.indexOf("]");
      if (close < 0) {
        why = "has an unterminated IPv6 literal";
        break;
      }
      host = authority.substring(1, close);
      const after = authority.substring(close + 1);
      if (after !== "") {
        if (after.charAt(0) !== ":") {
          why = "has junk after the IPv6 literal";
          break;
        }
        portText = after.substring(1);
      }
      if (host === "" || host.indexOf(":") < 0) {
        why = "has a bad IPv6 literal";
        break;
      }
    } else {
      const colon = authority.indexOf(":");
      host = colon < 0 ? authority : authority.substring(0, colon);
      if (colon >= 0) portText = authority.substring(colon + 1);
      if (host.indexOf("[") >= 0 || host.indexOf("]") >= 0) {
        why = "has a bad host";
        break;
      }
    }
    if (host === "") {
      why = "has no host";
      break;
    }
    port = tls ? 443 : 80;
    if (portText !== "") {
      port = portText.length <= 5 ? parseInt(portText, 10) : -1;
      for (i = 0; i < portText.length; i++) {
        c = portText.charCodeAt(i);
        if (c < 48 || c > 57) port = -1;
      }
      if (!(port >= 1 && port <= 65535)) why = "has a bad port";
    }
  } while (false);
  if (why) throw otaError("MSG_INVALID", "url " + why + ": " + url.substring(0, 120));
  return { tls: tls, host: host, port: port, path: path };
}

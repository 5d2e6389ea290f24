// Splits a firmware URL into what a raw-socket HTTP client needs. Only http and https:
// the URL comes from the cloud, so anything odd is refused rather than guessed at.
import { otaError } from "../errors";

export interface ParsedUrl {
  tls: boolean;
  /** Host name or address, IPv6 literals without their brackets. */
  host: string;
  port: number;
  /** Path and query exactly as given (never empty; the fragment is dropped: it is not sent). */
  path: string;
}

function invalid(url: string, why: string): Error {
  return otaError("MSG_INVALID", "url " + why + ": " + url.substring(0, 120));
}

// Characters that cannot appear raw in a request line or a Host header: controls, space,
// DEL and anything outside ASCII (the cloud sends percent-encoded URLs).
function hasUnsafeChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c >= 127) return true;
  }
  return false;
}

function parsePort(s: string): number {
  if (s.length < 1 || s.length > 5) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  const n = parseInt(s, 10);
  return n >= 1 && n <= 65535 ? n : -1;
}

/** Throws otaError("MSG_INVALID") for anything but a well-formed http(s) URL. */
export function parseUrl(url: string): ParsedUrl {
  if (typeof url !== "string") throw invalid(String(url), "is not a string");
  const lower = url.substring(0, 8).toLowerCase();
  let tls: boolean;
  let rest: string;
  if (lower.substring(0, 7) === "http://") {
    tls = false;
    rest = url.substring(7);
  } else if (lower === "https://") {
    tls = true;
    rest = url.substring(8);
  } else {
    throw invalid(url, "scheme is not http or https");
  }
  if (hasUnsafeChar(rest)) throw invalid(url, "has spaces, controls or non-ASCII characters");

  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.substring(0, hash);
  let slash = rest.indexOf("/");
  const query = rest.indexOf("?");
  if (query >= 0 && (slash < 0 || query < slash)) slash = query;
  const authority = slash < 0 ? rest : rest.substring(0, slash);
  let path = slash < 0 ? "/" : rest.substring(slash);
  if (path.charAt(0) === "?") path = "/" + path;

  if (authority.indexOf("@") >= 0) throw invalid(url, "carries user credentials");
  let host: string;
  let portText = "";
  if (authority.charAt(0) === "[") {
    const close = authority.indexOf("]");
    if (close < 0) throw invalid(url, "has an unterminated IPv6 literal");
    host = authority.substring(1, close);
    const after = authority.substring(close + 1);
    if (after !== "") {
      if (after.charAt(0) !== ":") throw invalid(url, "has junk after the IPv6 literal");
      portText = after.substring(1);
    }
    if (host === "" || host.indexOf(":") < 0) throw invalid(url, "has a bad IPv6 literal");
  } else {
    const colon = authority.indexOf(":");
    host = colon < 0 ? authority : authority.substring(0, colon);
    if (colon >= 0) portText = authority.substring(colon + 1);
    if (host.indexOf("[") >= 0 || host.indexOf("]") >= 0) throw invalid(url, "has a bad host");
  }
  if (host === "") throw invalid(url, "has no host");
  let port = tls ? 443 : 80;
  if (portText !== "") {
    port = parsePort(portText);
    if (port < 0) throw invalid(url, "has a bad port");
  }
  return { tls: tls, host: host, port: port, path: path };
}

/** The Host header value for a parsed URL (port only when it is not the scheme's default). */
export function hostHeader(u: ParsedUrl): string {
  const name = u.host.indexOf(":") >= 0 ? "[" + u.host + "]" : u.host;
  return u.port === (u.tls ? 443 : 80) ? name : name + ":" + u.port;
}

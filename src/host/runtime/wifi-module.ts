// A minimal require("Wifi") (libs/network/jswrap_wifi.c, ESP32 flavour): connect succeeds or
// fails after a short delay as configured, and setSNTP makes getTime() wall-clock time.

import type { Session } from "./session";

export interface WifiOptions {
  /** Error text handed to the connect callback; null/undefined means the connect succeeds. */
  connectError?: string | null;
  connectDelayMs?: number;
  ip?: string;
}

export interface WifiServices {
  session: Session;
  options: WifiOptions;
  isUp(): boolean;
  setUp(up: boolean): void;
  /** Wifi.setSNTP: the clock becomes wall-clock time once the first SNTP answer arrives. */
  syncClock(): void;
}

export function createWifiModule(w: WifiServices): Record<string, unknown> {
  const { session, options } = w;
  const api = session.api;
  const wifi = api.object();
  const ip = options.ip ?? "192.168.1.50";
  const ipInfo = () => {
    const o = api.object();
    o.ip = w.isUp() ? ip : "0.0.0.0";
    o.netmask = w.isUp() ? "255.255.255.0" : "0.0.0.0";
    o.gw = w.isUp() ? "192.168.1.1" : "0.0.0.0";
    o.mac = "24:0a:c4:00:00:01";
    return o;
  };
  const callLater = (cb: unknown, args: unknown[]) => {
    if (typeof cb === "function") session.soon(() => Reflect.apply(cb, undefined, args));
  };

  wifi.connect = api.bridge((ssid: unknown, opts?: unknown, callback?: unknown) => {
    const cb = typeof opts === "function" ? opts : callback;
    session.later(options.connectDelayMs ?? 20, () => {
      const err = options.connectError ?? null;
      if (err === null) {
        w.setUp(true);
        api.dispatch(wifi, "associated", []);
        api.dispatch(wifi, "connected", [ipInfo()]);
      }
      if (typeof cb === "function") Reflect.apply(cb, undefined, [err]);
    });
    return undefined;
  }, "connect");
  wifi.disconnect = api.bridge((cb?: unknown) => {
    const wasUp = w.isUp();
    w.setUp(false);
    if (wasUp) session.soon(() => api.dispatch(wifi, "disconnected", [api.object()]));
    callLater(cb, []);
  }, "disconnect");
  wifi.getIP = api.bridge((cb?: unknown) => {
    const info = ipInfo();
    callLater(cb, [null, info]);
    return info;
  }, "getIP");
  wifi.getStatus = api.bridge((cb?: unknown) => {
    const s = api.object();
    s.station = w.isUp() ? "connected" : "off";
    s.ap = "disabled";
    s.mode = "Station";
    callLater(cb, [s]);
    return s;
  }, "getStatus");
  wifi.setSNTP = api.bridge(() => {
    session.later(50, () => w.syncClock());
  }, "setSNTP");
  wifi.setHostname = api.bridge(() => undefined, "setHostname");
  wifi.save = api.bridge(() => undefined, "save");
  wifi.restore = api.bridge(() => undefined, "restore");
  return wifi;
}

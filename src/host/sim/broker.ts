// The MQTT broker a simulation talks to: aedes in-process (default, nothing to install)
// or a real mosquitto process (CI installs it), both on 127.0.0.1 with a fixed port for
// the broker's lifetime so it can be restarted under connected clients.
import { createServer, Socket, type Server } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { makeTestCert } from "./test-cert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Aedes } from "aedes";

export type BrokerKind = "aedes" | "mosquitto";

export interface Broker {
  kind: BrokerKind;
  port: number;
  url: string;
  /** Stops the broker (connected clients see the connection drop). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops for good and removes temporary files. */
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = new Socket();
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
      c.connect(port, "127.0.0.1");
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`broker did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
export function mosquittoAvailable(): boolean {
  return !spawnSync("mosquitto", ["-h"], { stdio: "ignore" }).error;
}

async function startAedes(port: number, authenticate?: AuthHook, tls?: boolean): Promise<{ stop(): Promise<void> }> {
  const aedes = await Aedes.createBroker();
  if (authenticate) {
    aedes.authenticate = (client, username, password, done) => {
      const ok = authenticate(client.id, username ?? "", password ? password.toString("latin1") : "");
      if (ok) done(null, true);
      else {
        const err = Object.assign(new Error("bad credentials"), { returnCode: 4 });
        done(err as never, false);
      }
    };
  }
  const sockets = new Set<Socket>();
  const onSocket = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    aedes.handle(s);
  };
  const server: Server = tls ? createTlsServer(makeTestCert(), onSocket) : createServer(onSocket);
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return {
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => aedes.close(() => r()));
    },
  };
}

async function startMosquitto(port: number, dir: string): Promise<{ stop(): Promise<void> }> {
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n`);
  const child: ChildProcess = spawn("mosquitto", ["-c", conf], { stdio: "ignore" });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.once("error", () => undefined);
  await waitForPort(port, 5000);
  return {
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Checks a CONNECT's credentials (the simulated cloud verifies Tencent signatures with it). */
export type AuthHook = (clientId: string, username: string, password: string) => boolean;

/** `tls`: aedes only, with a throw-away self-signed certificate (Espruino verifies none). */
export async function startBroker(kind: BrokerKind = "aedes", opts: { authenticate?: AuthHook; tls?: boolean } = {}): Promise<Broker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "ota-broker-"));
  let running: { stop(): Promise<void> } | null = null;
  const broker: Broker = {
    kind,
    port,
    url: `${opts.tls ? "mqtts" : "mqtt"}://127.0.0.1:${port}`,
    async start() {
      if (running) return;
      // mosquitto has no hook for Tencent signatures; aedes checks them when asked to.
      if (opts.tls && kind !== "aedes") throw new Error("TLS brokers: aedes only");
      running = kind === "aedes" ? await startAedes(port, opts.authenticate, opts.tls) : await startMosquitto(port, dir);
    },
    async stop() {
      const r = running;
      running = null;
      if (r) await r.stop();
    },
    async close() {
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await broker.start();
  return broker;
}

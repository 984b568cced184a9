/**
 * A real nats-server for a test suite: a free 127.0.0.1 port, a throwaway JetStream store directory, and a teardown
 * that leaves nothing behind. The process is also killed when the test process exits, so a forgotten stop() (or a
 * crashed test) never leaves a server running for the next suite.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { accessSync, closeSync, constants, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as tcpConnect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { UnavailableError } from "../../src/errors.ts";

export type NatsServerOptions = {
  /** Run with JetStream (`-js -sd <storeDir>`); default true. */
  jetstream?: boolean;
  /** Extra nats-server flags, e.g. `["--auth", token]`. */
  args?: string[];
};

/** A running test server. `await using server = await startNats()` stops it at the end of the scope. */
export type NatsServer = {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Holds the JetStream store (`jetstream/`) and the server's output (`nats-server.log`); removed by stop(). */
  storeDir: string;
  /** The server process's id while it runs (benchmarks read its CPU time from /proc). */
  pid(): number | undefined;
  /** Stops the process but keeps port and store, as when NATS crashes or is rolled; restart() brings it back. */
  halt(): Promise<void>;
  /** Starts the process again on the same port and store (halting it first if it runs): streams survive. */
  restart(): Promise<void>;
  /** Stops the process and removes the store dir; safe to call more than once. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const PROBE_TIMEOUT_MS = 500;
const POLL_MS = 20;
/** Another process can take the probed port before nats-server binds it; a new port almost always works. */
const PORT_ATTEMPTS = 3;
const INSTALL_HINT = "install nats-server: apt-get install nats-server";

/**
 * Starts nats-server on a free port with its own store directory and resolves once it accepts clients (with
 * JetStream enabled, unless `jetstream: false`).
 * @example
 * const server = await startNats();
 * after(() => server.stop());
 * const nc = await connect({ servers: server.url });
 */
export async function startNats(options: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = findNatsServer();
  const jetstream = options.jetstream ?? true;
  cleanUpOnExit();
  const storeDir = await mkdtemp(join(tmpdir(), "fluxgate-nats-"));
  liveDirs.add(storeDir);
  const argsFor = (port: number) => [
    ...(jetstream ? ["-js", "-sd", storeDir] : []),
    ...["-a", "127.0.0.1", "-p", String(port)],
    ...(options.args ?? []),
  ];

  let port = 0;
  let proc: Running | undefined;
  try {
    for (let attempt = 1; proc === undefined; attempt++) {
      port = await freePort();
      try {
        proc = await launch(bin, argsFor(port), { port, storeDir, jetstream });
      } catch (e) {
        if (!(e instanceof UnavailableError && e.reason === "NatsPortInUse" && attempt < PORT_ATTEMPTS)) throw e;
      }
    }
  } catch (e) {
    await removeDir(storeDir);
    throw e;
  }

  let stopping: Promise<void> | undefined;
  const halt = async () => {
    const p = proc;
    proc = undefined;
    if (p !== undefined) await terminate(p);
  };
  const stop = () =>
    (stopping ??= (async () => {
      await halt();
      await removeDir(storeDir);
    })());

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    pid: () => proc?.child.pid,
    halt,
    async restart() {
      if (stopping !== undefined) throw new Error(`nats-server on port ${port} was stopped; start a new one`);
      await halt();
      proc = await launch(bin, argsFor(port), { port, storeDir, jetstream });
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Where the nats-server binary is: `$NATS_SERVER_BIN`, else the first on `PATH`, else `/usr/sbin/nats-server`
 * (Debian installs it there, which is not on every user's PATH). A `NATS_SERVER_BIN` that is not executable is an
 * error rather than skipped, so a typo does not silently test against another server.
 */
export function findNatsServer(env: Record<string, string | undefined> = process.env): string {
  const chosen = env.NATS_SERVER_BIN;
  if (chosen !== undefined && chosen !== "") {
    if (isExecutableFile(chosen)) return chosen;
    throw new UnavailableError("NatsServerMissing", `NATS_SERVER_BIN=${chosen} is not an executable file; ${INSTALL_HINT}`);
  }
  const onPath = (env.PATH ?? "").split(delimiter).filter((d) => d !== "").map((d) => join(d, "nats-server"));
  const found = [...onPath, "/usr/sbin/nats-server"].find(isExecutableFile);
  if (found !== undefined) return found;
  throw new UnavailableError("NatsServerMissing", `nats-server is not on PATH nor at /usr/sbin/nats-server; ${INSTALL_HINT}`);
}

type Running = { child: ChildProcess; exited: Promise<void> };

/** Servers and store dirs not yet stopped; 'exit' handlers must be synchronous, and kill() and rmSync() are. */
const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function cleanUpOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

async function launch(bin: string, args: string[], at: { port: number; storeDir: string; jetstream: boolean }): Promise<Running> {
  // A unique name lets the readiness probe tell our server from whatever else might answer on the port.
  const name = `fluxgate-test-${randomUUID()}`;
  const logFile = join(at.storeDir, "nats-server.log");
  const logFd = openSync(logFile, "a");
  const logStart = statSync(logFile).size;
  // Output goes to a file, not a pipe: no stream keeps the test process alive, and the log survives for errors.
  const child = spawn(bin, [...args, "--server_name", name], { stdio: ["ignore", logFd, logFd] });
  closeSync(logFd);
  live.add(child);
  let exited = false;
  let spawnError: Error | undefined;
  const exitedPromise = new Promise<void>((resolve) => {
    const done = () => {
      exited = true;
      live.delete(child);
      resolve();
    };
    child.once("exit", done);
    child.once("error", (e) => {
      spawnError = e;
      done();
    });
  });
  // Unreferenced so a test that forgets stop() still lets the process exit (and the exit hook kill the server).
  child.unref();
  const running = { child, exited: exitedPromise };

  const log = () => readFileSync(logFile, "utf8").slice(logStart).trim();
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const info = await Promise.race([readInfo(at.port).catch(() => undefined), exitedPromise.then(() => undefined)]);
    if (info?.server_name === name && (!at.jetstream || info.jetstream === true)) return running;
    if (exited) {
      const output = log();
      if (/address already in use/.test(output)) {
        throw new UnavailableError("NatsPortInUse", `nats-server could not listen on 127.0.0.1:${at.port}: address already in use`);
      }
      const why = spawnError === undefined ? `exited with code ${child.exitCode}` : `could not be started (${spawnError.message})`;
      throw new UnavailableError("NatsStartFailed", `nats-server ${why}; its output:\n${output}`);
    }
    if (Date.now() > deadline) {
      await terminate(running);
      throw new UnavailableError(
        "NatsStartFailed",
        `nats-server did not accept clients on 127.0.0.1:${at.port}${at.jetstream ? " with JetStream" : ""} within ${START_TIMEOUT_MS} ms; its output:\n${log()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** SIGTERM lets nats-server flush its store; SIGKILL is the fallback. The timer also keeps the loop alive meanwhile. */
async function terminate({ child, exited }: Running): Promise<void> {
  if (!live.has(child)) return;
  child.kill("SIGTERM");
  const kill = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  await exited;
  clearTimeout(kill);
}

/** The server's first protocol line, `INFO {...}`, parsed; it says who answers and whether JetStream is on. */
function readInfo(port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    let buffered = "";
    const finish = (result: Record<string, unknown> | Error) => {
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => finish(new Error("no INFO line in time")));
    socket.on("error", finish);
    socket.on("close", () => finish(new Error("closed before an INFO line")));
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const end = buffered.indexOf("\r\n");
      if (end === -1) return;
      const line = buffered.slice(0, end);
      if (!line.startsWith("INFO ")) return finish(new Error(`not a NATS server: ${line.slice(0, 80)}`));
      try {
        finish(JSON.parse(line.slice(5)) as Record<string, unknown>);
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

/** A port the kernel just handed out; free again once we close it (see PORT_ATTEMPTS for the race). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => (port === 0 ? reject(new Error("no port from 127.0.0.1:0")) : resolve(port)));
    });
  });
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

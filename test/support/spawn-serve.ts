/**
 * `fluxgate serve` in a child process on this test's runtime (through test/support/slow-serve.ts, or bin/fluxgate.ts
 * itself), with its JSON log lines parsed as they arrive, for tests of signals, reloads, exit codes and the trial.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { runtimeCommand } from "./runtime-command.ts";
import { until } from "./until.ts";

const ROOT = join(import.meta.dirname, "..", "..");

export type ServeProcess = {
  /** Every JSON line printed so far. */
  lines: Array<Record<string, unknown>>;
  /** Resolves with the listeners' URLs once all listen. */
  started(): Promise<Record<string, string>>;
  /** Exit code (null if killed by a signal). */
  exited: Promise<number | null>;
  /** Signals the process itself (Deno's child_process reports a child it signalled as killed even when it exits 0). */
  signal(name: NodeJS.Signals): void;
  stderr(): string;
  kill(): void;
};

export function spawnServe(configFile: string): ServeProcess {
  const [cmd, args] = runtimeCommand(join(ROOT, "test/support/slow-serve.ts"), [configFile]);
  return spawnJsonLines(cmd, args, { cwd: ROOT });
}

/**
 * `fluxgate serve ARGS` itself (bin/fluxgate.ts) on this test's runtime; `started()` resolves once the roles'
 * listeners log "listening" (by listener name → URL).
 */
export function spawnFluxgate(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; listeners: string[] }): ServeProcess {
  const [cmd, full] = runtimeCommand(join(ROOT, "bin/fluxgate.ts"), args);
  const p = spawnJsonLines(cmd, full, { cwd: options.cwd, env: options.env });
  const urls = () => Object.fromEntries(p.lines.filter((l) => l.msg === "listening").map((l) => [String(l.listener), String(l.url)]));
  return {
    ...p,
    async started() {
      await until(() => options.listeners.every((n) => urls()[n] !== undefined), { timeoutMs: 20_000, what: `the listeners ${options.listeners.join(", ")} (stderr: ${p.stderr()})` });
      return urls();
    },
  };
}

function spawnJsonLines(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): ServeProcess {
  const child = spawn(cmd, args, { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"], ...(options.env === undefined ? {} : { env: options.env }) });
  const lines: Array<Record<string, unknown>> = [];
  let buffered = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    buffered += c.toString();
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const p of parts) if (p.trim() !== "") lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return {
    lines,
    async started() {
      await until(() => lines.some((l) => l.started !== undefined), { timeoutMs: 20_000, what: `the server to start (stderr: ${stderr})` });
      return lines.find((l) => l.started !== undefined)?.started as Record<string, string>;
    },
    exited,
    signal: (name) => process.kill(child.pid ?? 0, name),
    stderr: () => stderr,
    kill: () => child.kill("SIGKILL"),
  };
}

/** What the benchmarks share: the runtimes' commands and profiler flags, free ports, quantiles, CPU time and RSS of a process. */
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..");

/** How to run a TypeScript file on each runtime (the project's own copies from node_modules). */
export const RUNTIME_COMMANDS: Record<string, string[]> = {
  node: [join(ROOT, "node_modules/.bin/node")],
  bun: [join(ROOT, "node_modules/.bin/bun")],
  deno: [join(ROOT, "node_modules/.bin/deno"), "run", "-A"],
};

/**
 * `BENCH_PROFILE_DIR=<dir>`: the process under test runs under its runtime's CPU profiler (Bun and Node:
 * `--cpu-prof`), which writes the profile there on exit; Deno has no such flag.
 */
export function profileArgs(runtime: string): string[] {
  const dir = process.env.BENCH_PROFILE_DIR;
  return dir === undefined || runtime === "deno" ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`];
}

/** The command of `runtime`, or an error naming the choices. */
export function runtimeCommand(runtime: string): string[] {
  const cmd = RUNTIME_COMMANDS[runtime];
  if (cmd === undefined) throw new Error(`runtime must be node, bun or deno, got ${runtime}`);
  return cmd;
}

/** The `q` quantile of `xs` (not sorted in place). */
export const quantile = (xs: readonly number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;

/** A port free right now (the child binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * CPU time (user + system) process `pid` has used so far, in ms, from /proc (clock ticks of 10 ms): a cost per request
 * that does not depend on how busy the machine is.
 */
export async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).replace(/^.*\) /s, "").split(" ");
  // Fields 14 and 15 of /proc/PID/stat (utime, stime), counted after the command name: indexes 11 and 12 here.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** A memory figure of process `pid` from /proc/<pid>/status, in MiB: `VmRSS` (now) or `VmHWM` (peak). */
export async function rssMiB(pid: number, field: "VmRSS" | "VmHWM" = "VmRSS"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
}

/** What the benchmarks share: the runtimes' commands, free ports, quantiles, CPU time of a process. */
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

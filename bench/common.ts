/** What the benchmarks share: the runtimes' commands, free ports, quantiles. */
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

/** How to run a TypeScript file in a child process on the runtime running this test (Node 24, Bun or Deno). */
import { runtime } from "../../src/version.ts";

/** `[command, args]` that runs `script` with `args` on this runtime. */
export function runtimeCommand(script: string, args: string[] = []): [string, string[]] {
  if (runtime().name === "deno") return [process.execPath, ["run", "-A", script, ...args]];
  return [process.execPath, [script, ...args]];
}

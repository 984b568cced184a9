#!/usr/bin/env node
// The `fluxgate` command. Node 24, Bun and Deno run this TypeScript file directly.
import module from "node:module";

// Node keeps compiled code between runs (halves its cold start here); Bun and Deno have their own caches.
if (typeof (globalThis as { Bun?: unknown; Deno?: unknown }).Bun === "undefined" && typeof (globalThis as { Deno?: unknown }).Deno === "undefined") {
  module.enableCompileCache?.();
}
// Imported after the cache is on, so the whole program benefits.
const { main } = await import("../src/cli/main.ts");

const code = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
});
// `serve` returns only after its graceful shutdown; exit now rather than wait on stray timers or sockets.
process.exit(code);

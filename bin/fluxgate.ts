#!/usr/bin/env node
// The `fluxgate` command. Node 24, Bun and Deno run this TypeScript file directly.
import { main } from "../src/cli/main.ts";

const code = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
});
// `serve` returns only after its graceful shutdown; exit now rather than wait on stray timers or sockets.
process.exit(code);

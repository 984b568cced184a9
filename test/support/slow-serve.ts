/**
 * `fluxgate serve` as a child process for shutdown tests, with one extra route on the receiver listener:
 * `GET /slow?ms=N` answers after N ms. Prints `{"started":{listener: url}}` on stdout once listening.
 * Usage: <runtime> test/support/slow-serve.ts <config-file>
 */
import { runServe } from "../../src/cli/serve.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { baseApp } from "../../src/server/app.ts";

const log = createLogger({ level: "info" });
const receiver = baseApp("receiver", log).get("/slow", async ({ request }) => {
  const ms = Number(new URL(request.url).searchParams.get("ms") ?? "1000");
  await new Promise((r) => setTimeout(r, ms));
  return `finished after ${ms} ms`;
});
const code = await runServe(
  { values: { config: process.argv[2] ?? "" }, positionals: [] },
  { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), env: process.env, cwd: process.cwd() },
  { routes: { receiver }, logger: log, onStarted: (info) => process.stdout.write(`${JSON.stringify({ started: info.listeners })}\n`) },
);
process.exit(code);

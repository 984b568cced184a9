import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runtimeCommand } from "../support/runtime-command.ts";
import { until } from "../support/until.ts";

const ROOT = join(import.meta.dirname, "..", "..");

describe("graceful shutdown", () => {
  it("on SIGTERM reports not ready, finishes the request in flight, then stops listening and exits 0", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-shutdown-"));
    const config = join(dir, "fluxgate.yaml");
    await writeFile(
      config,
      ["roles: [receiver]", "listen:", '  receiver: "127.0.0.1:0"', '  metrics: "127.0.0.1:0"', '  health: "127.0.0.1:0"', "http:", "  shutdownDelay: 400ms", "  shutdownTimeout: 10s"].join("\n"),
    );
    const [cmd, args] = runtimeCommand(join(ROOT, "test/support/slow-serve.ts"), [config]);
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const lines: Array<Record<string, unknown>> = [];
    let stderr = "";
    let buffered = "";
    child.stdout.on("data", (c: Buffer) => {
      buffered += c.toString();
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      for (const p of parts) if (p.trim() !== "") lines.push(JSON.parse(p) as Record<string, unknown>);
    });
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    try {
      await until(() => lines.some((l) => l.started !== undefined), { timeoutMs: 20_000, what: `the server to start (stderr: ${stderr})` });
      const urls = lines.find((l) => l.started !== undefined)?.started as Record<string, string>;
      const receiver = urls.receiver?.replace("0.0.0.0", "127.0.0.1") ?? "";
      const health = urls.health?.replace("0.0.0.0", "127.0.0.1") ?? "";
      assert.equal((await fetch(`${health}/readyz`)).status, 200);

      const slow = fetch(`${receiver}/slow?ms=1200`).then(async (r) => ({ status: r.status, body: await r.text() }));
      await new Promise((r) => setTimeout(r, 150));
      // process.kill, not child.kill: Deno's child_process reports a child it signalled as killed even when it exits 0.
      process.kill(child.pid ?? 0, "SIGTERM");

      // During the shutdown delay the process still answers, but as not ready.
      await until(async () => (await fetch(`${health}/readyz`).catch(() => undefined))?.status === 503, { what: "readyz to turn 503" });
      const ready = await fetch(`${health}/readyz`).catch(() => undefined);
      if (ready !== undefined) assert.match(await ready.text(), /\[-\]shutdown failed: shutting down/);

      assert.deepEqual(await slow, { status: 200, body: "finished after 1200 ms" });
      assert.equal(await exited, 0, `exit code (stderr: ${stderr})`);
      await assert.rejects(fetch(`${receiver}/slow?ms=1`), "nothing listens after exit");
      const messages = lines.map((l) => l.msg);
      assert.ok(messages.includes("signal received"));
      assert.ok(messages.includes("shutting down"));
      assert.equal(messages[messages.length - 1], "stopped");
    } finally {
      child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    }
  });
});

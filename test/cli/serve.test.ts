import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runtimeCommand } from "../support/runtime-command.ts";
import { until } from "../support/until.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const BASE = ["roles: [receiver]", "listen:", '  receiver: "127.0.0.1:0"', '  metrics: "127.0.0.1:0"', '  health: "127.0.0.1:0"'];

describe("fluxgate serve with a configuration file", () => {
  it("reloads a good edit, rejects a bad one with the reason and keeps serving on the last good one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-serve-"));
    const config = join(dir, "fluxgate.yaml");
    await writeFile(config, [...BASE, "http: {bodyLimit: 1Ki}"].join("\n"));
    const [cmd, args] = runtimeCommand(join(ROOT, "test/support/slow-serve.ts"), [config]);
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
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
    const post = async (url: string, bytes: number) => (await fetch(`${url}/slow?ms=1`, { method: "POST", body: new Uint8Array(bytes) })).status;
    try {
      await until(() => lines.some((l) => l.started !== undefined), { timeoutMs: 20_000, what: `start (stderr: ${stderr})` });
      const receiver = (lines.find((l) => l.started !== undefined)?.started as Record<string, string>).receiver ?? "";
      assert.equal(await post(receiver, 2048), 413, "1Ki limit from the file");

      await writeFile(config, [...BASE, "http: {bodyLimit: 1Ki, requestTimeout: soon}"].join("\n"));
      await until(() => lines.some((l) => l.msg === "configuration change rejected; keeping the last good configuration"), { what: "the rejection" });
      const rejected = lines.find((l) => l.msg === "configuration change rejected; keeping the last good configuration");
      assert.deepEqual(rejected?.issues, [{ path: "http.requestTimeout", message: 'expected a duration like "30s", "1m30s" or "500ms", got "soon"', line: 6 }]);
      assert.equal(await post(receiver, 2048), 413, "still the last good limit");

      await writeFile(config, [...BASE, "http: {bodyLimit: 4Ki}", "bus: {name: other}"].join("\n"));
      await until(() => lines.some((l) => typeof l.msg === "string" && l.msg.startsWith("configuration reloaded")), { what: "the reload" });
      assert.deepEqual(lines.find((l) => l.msg === "configuration reloaded; these settings apply after a restart")?.keys, ["bus"]);
      assert.equal(await post(receiver, 2048), 404, "a 2 KiB body now passes the limit (and meets no POST route)");
      assert.equal(await post(receiver, 8192), 413);

      process.kill(child.pid ?? 0, "SIGTERM");
      assert.equal(await exited, 0);
    } finally {
      child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    }
  });
});

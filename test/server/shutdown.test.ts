import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localConfigText } from "../support/local-config.ts";
import { spawnServe } from "../support/spawn-serve.ts";
import { until } from "../support/until.ts";

describe("graceful shutdown", () => {
  it("on SIGTERM reports not ready, finishes the request in flight, then stops listening and exits 0", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-shutdown-"));
    const config = join(dir, "fluxgate.yaml");
    await writeFile(config, localConfigText(["roles: [receiver]", "http:", "  shutdownDelay: 400ms", "  shutdownTimeout: 10s"]));
    const serve = spawnServe(config);
    try {
      const urls = await serve.started();
      const receiver = urls.receiver ?? "";
      const health = urls.health ?? "";
      assert.equal((await fetch(`${health}/readyz`)).status, 200);

      const slow = fetch(`${receiver}/slow?ms=1200`).then(async (r) => ({ status: r.status, body: await r.text() }));
      await new Promise((r) => setTimeout(r, 150));
      serve.signal("SIGTERM");

      // During the shutdown delay the process still answers, but as not ready.
      await until(async () => (await fetch(`${health}/readyz`).catch(() => undefined))?.status === 503, { what: "readyz to turn 503" });
      const ready = await fetch(`${health}/readyz`).catch(() => undefined);
      if (ready !== undefined) assert.match(await ready.text(), /\[-\]shutdown failed: shutting down/);

      assert.deepEqual(await slow, { status: 200, body: "finished after 1200 ms" });
      assert.equal(await serve.exited, 0, `exit code (stderr: ${serve.stderr()})`);
      await assert.rejects(fetch(`${receiver}/slow?ms=1`), "nothing listens after exit");
      const messages = serve.lines.map((l) => l.msg);
      assert.ok(messages.includes("signal received"));
      assert.ok(messages.includes("shutting down"));
      assert.equal(messages[messages.length - 1], "stopped");
    } finally {
      serve.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

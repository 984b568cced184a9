import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localConfigText } from "../support/local-config.ts";
import { spawnServe } from "../support/spawn-serve.ts";
import { until } from "../support/until.ts";

const config = (lines: string[]) => localConfigText(["roles: [receiver]", ...lines]);

describe("fluxgate serve with a configuration file", () => {
  it("reloads a good edit, rejects a bad one with the reason and keeps serving on the last good one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-serve-"));
    const file = join(dir, "fluxgate.yaml");
    await writeFile(file, config(["http: {bodyLimit: 1Ki}"]));
    const serve = spawnServe(file);
    const lines = serve.lines;
    const post = async (url: string, bytes: number) => (await fetch(`${url}/slow?ms=1`, { method: "POST", body: new Uint8Array(bytes) })).status;
    try {
      const receiver = (await serve.started()).receiver ?? "";
      assert.equal(await post(receiver, 2048), 413, "1Ki limit from the file");

      await writeFile(file, config(["http: {bodyLimit: 1Ki, requestTimeout: soon}"]));
      await until(() => lines.some((l) => l.msg === "configuration change rejected; keeping the last good configuration"), { what: "the rejection" });
      const rejected = lines.find((l) => l.msg === "configuration change rejected; keeping the last good configuration");
      assert.deepEqual(rejected?.issues, [{ path: "http.requestTimeout", message: 'expected a duration like "30s", "1m30s" or "500ms", got "soon"', line: 7 }]);
      assert.equal(await post(receiver, 2048), 413, "still the last good limit");

      await writeFile(file, config(["http: {bodyLimit: 4Ki}", "bus: {name: other}"]));
      await until(() => lines.some((l) => typeof l.msg === "string" && l.msg.startsWith("configuration reloaded")), { what: "the reload" });
      assert.deepEqual(lines.find((l) => l.msg === "configuration reloaded; these settings apply after a restart")?.keys, ["bus"]);
      assert.equal(await post(receiver, 2048), 404, "a 2 KiB body now passes the limit (and meets no POST route)");
      assert.equal(await post(receiver, 8192), 413);

      serve.signal("SIGTERM");
      assert.equal(await serve.exited, 0);
    } finally {
      serve.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigError } from "../../src/errors.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { watchConfig } from "../../src/config/watch-config.ts";

/** Resolves when `pred` holds, checking every 20 ms; fails after `ms`. */
async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("configuration reload", () => {
  it("applies a good edit, keeps the last good config on a bad one, and says why", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-watch-"));
    const file = join(dir, "fluxgate.yaml");
    await writeFile(file, "log:\n  level: info\n");
    const changes: Config[] = [];
    const errors: ConfigError[] = [];
    const watch = await watchConfig(file, await loadConfig(file), {
      intervalMs: 100,
      onChange: (next) => changes.push(next),
      onError: (e) => errors.push(e),
    });
    try {
      await writeFile(file, "log:\n  level: debug\n");
      await until(() => changes.length === 1);
      assert.equal(watch.current().log.level, "debug");

      await writeFile(file, "log:\n  level: debug\n  colour: true\n");
      await until(() => errors.length === 1);
      assert.equal(errors[0]?.message, `invalid configuration ${file}:3: log.colour: unknown key; expected one of: level`);
      assert.equal(watch.current().log.level, "debug", "the last good config stays in force");
      assert.equal(changes.length, 1);

      // Kubernetes replaces a mounted ConfigMap by renaming a new file over it.
      await writeFile(join(dir, "next.yaml"), "log:\n  level: warn\n");
      await rename(join(dir, "next.yaml"), file);
      await until(() => changes.length === 2);
      assert.equal(watch.current().log.level, "warn");

      // Rewriting the same settings is not a change.
      await writeFile(file, "log: {level: warn}\n");
      await watch.check();
      assert.equal(changes.length, 2);
    } finally {
      watch.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps the running config when the file disappears", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-watch-"));
    const file = join(dir, "fluxgate.yaml");
    await writeFile(file, "http:\n  bodyLimit: 1Mi\n");
    const errors: ConfigError[] = [];
    const watch = await watchConfig(file, await loadConfig(file), { intervalMs: 100, onChange: () => {}, onError: (e) => errors.push(e) });
    try {
      await rm(file);
      await until(() => errors.length === 1);
      assert.match(errors[0]?.message ?? "", /cannot read the file: ENOENT; keeping the last good configuration/);
      assert.equal(watch.current().http.bodyLimit, 1024 * 1024);
    } finally {
      watch.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultConfig, loadConfig } from "../../src/config/load.ts";

describe("deploy/fluxgate.example.yaml", () => {
  it("is a valid configuration that spells out exactly the defaults", async () => {
    const file = join(import.meta.dirname, "..", "..", "deploy", "fluxgate.example.yaml");
    assert.deepEqual(await loadConfig(file), defaultConfig());
  });
});

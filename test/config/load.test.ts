import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/errors.ts";
import { configPath, defaultConfig, loadConfig, parseConfig } from "../../src/config/load.ts";

const FILE = "/etc/fluxgate/config.yaml";

/** The ConfigError thrown for `text`, as the lines the user reads. */
function errorLines(text: string): string[] {
  try {
    parseConfig(text, FILE);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.file, FILE);
    return e.issues.map((i) => `${i.line ?? "-"} ${i.path}: ${i.message}`);
  }
  assert.fail("expected a ConfigError");
}

describe("configuration file", () => {
  it("gives the embedded defaults with no file: every role, Flux's ports, 3 MiB body limit", () => {
    const c = defaultConfig();
    assert.deepEqual(c.roles, ["admission", "receiver", "worker"]);
    assert.deepEqual(c.listen, {
      admission: { host: "0.0.0.0", port: 9443 },
      receiver: { host: "0.0.0.0", port: 9292 },
      metrics: { host: "0.0.0.0", port: 8080 },
      health: { host: "0.0.0.0", port: 9440 },
    });
    assert.equal(c.http.bodyLimit, 3 * 1024 * 1024);
    assert.equal(c.http.requestTimeout, 30_000);
    assert.equal(c.http.shutdownTimeout, 30_000);
    assert.equal(c.tls.certFile, undefined);
    assert.equal(c.tls.dir, ".fluxgate/certs");
    assert.equal(c.bus.url, undefined);
  });

  it("treats an empty file and a comment-only file as the defaults", () => {
    assert.deepEqual(parseConfig("", FILE), defaultConfig());
    assert.deepEqual(parseConfig("# nothing yet\n", FILE), defaultConfig());
  });

  it("parses durations, sizes and addresses into numbers", () => {
    const c = parseConfig(
      ["listen:", '  admission: "127.0.0.1:0"', '  health: "[::1]:9440"', "http:", "  bodyLimit: 7Mi", "  requestTimeout: 1m30s", "  shutdownDelay: 500ms", "tls:", "  reloadInterval: 2s"].join("\n"),
      FILE,
    );
    assert.deepEqual(c.listen.admission, { host: "127.0.0.1", port: 0 });
    assert.deepEqual(c.listen.health, { host: "::1", port: 9440 });
    assert.equal(c.listen.receiver.port, 9292);
    assert.equal(c.http.bodyLimit, 7 * 1024 * 1024);
    assert.equal(c.http.requestTimeout, 90_000);
    assert.equal(c.http.shutdownDelay, 500);
    assert.equal(c.tls.reloadInterval, 2000);
  });

  it("names the file, line, key path and expected type for a wrong type", () => {
    assert.deepEqual(errorLines("listen:\n  admission: 9443\n"), [
      '2 listen.admission: expected an address string like ":9443" or "127.0.0.1:9443", got number 9443',
    ]);
    assert.deepEqual(errorLines("tls:\n  receiver: yes please\n"), ['2 tls.receiver: expected boolean, got string "yes please"']);
    assert.deepEqual(errorLines("roles: admission\n"), ["1 roles: expected array, got string \"admission\""]);
  });

  it("rejects unknown keys and lists the allowed ones", () => {
    assert.deepEqual(errorLines("listen:\n  admision: ':9443'\n"), [
      "2 listen.admision: unknown key; expected one of: admission, receiver, metrics, health",
    ]);
    assert.deepEqual(errorLines("logging:\n  level: debug\n"), [
      "1 logging: unknown key; expected one of: roles, listen, tls, http, log, bus, kube, worker, receivers, policy",
    ]);
  });

  it("reports every problem of a file at once, in line order", () => {
    const text = ["http:", "  bodyLimit: lots", "  requestTimeout: 30", "log:", "  level: loud", "roles: [admission, gate]"].join("\n");
    assert.deepEqual(errorLines(text), [
      '2 http.bodyLimit: expected a size like "3Mi", "512Ki" or a number of bytes, got "lots"',
      '3 http.requestTimeout: expected a duration string like "30s" or "1m30s", got number 30',
      '5 log.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got string "loud"',
      '6 roles[1]: expected one of "admission", "receiver", "worker", got string "gate"',
    ]);
  });

  it("rejects values of the right type but the wrong form", () => {
    assert.deepEqual(errorLines('listen:\n  metrics: "localhost:99999"\n'), [
      '2 listen.metrics: expected an address like ":9443" or "127.0.0.1:9443", got "localhost:99999"',
    ]);
    assert.deepEqual(errorLines('http:\n  shutdownTimeout: "30 seconds"\n'), [
      '2 http.shutdownTimeout: expected a duration like "30s", "1m30s" or "500ms", got "30 seconds"',
    ]);
    assert.deepEqual(errorLines("tls:\n  certFile: /tls/tls.crt\n"), [
      "1 tls: set both certFile and keyFile, or neither (then a certificate is generated in tls.dir)",
    ]);
    assert.deepEqual(errorLines("roles: []\n"), ["1 roles: expected at least 1 item(s)"]);
  });

  it("reports YAML syntax errors with their line, and a top level that is not a mapping", () => {
    assert.deepEqual(errorLines("listen:\n  admission: [':9443'\n"), ["3 : not valid YAML: deficient indentation"]);
    assert.deepEqual(errorLines("- admission\n"), ["- : expected a mapping of settings, got a list"]);
    assert.deepEqual(errorLines("log: {}\n---\nlog: {}\n"), ["- : expected one YAML document, found 2"]);
  });

  it("puts file, line, path and expectation into the error message itself", () => {
    assert.throws(() => parseConfig("listen:\n  admission: 9443\n", FILE), {
      name: "ConfigError",
      message: 'invalid configuration /etc/fluxgate/config.yaml:2: listen.admission: expected an address string like ":9443" or "127.0.0.1:9443", got number 9443',
    });
  });

  it("reads a file from disk and names it when it is missing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-config-"));
    try {
      const file = join(dir, "fluxgate.yaml");
      await writeFile(file, "log:\n  level: debug\n");
      assert.equal((await loadConfig(file)).log.level, "debug");
      await assert.rejects(loadConfig(join(dir, "missing.yaml")), {
        name: "ConfigError",
        message: `invalid configuration ${join(dir, "missing.yaml")}: (top level): cannot read the file: no such file`,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("takes the path from --config, else FLUXGATE_CONFIG, relative to the working directory", () => {
    assert.equal(configPath("cfg.yaml", { FLUXGATE_CONFIG: "/x.yaml" }, "/work"), "/work/cfg.yaml");
    assert.equal(configPath(undefined, { FLUXGATE_CONFIG: "/x.yaml" }, "/work"), "/x.yaml");
    assert.equal(configPath(undefined, { FLUXGATE_CONFIG: "" }, "/work"), undefined);
    assert.equal(configPath(undefined, {}, "/work"), undefined);
  });
});

describe("worker settings", () => {
  it("reads durations and counts, and says what is wrong", () => {
    const c = parseConfig("worker: {routeBatch: 64, maxHold: 5m, pendingTimeout: 90s}", "w.yaml");
    assert.deepEqual(c.worker, { routeBatch: 64, applyConcurrency: 16, maxHold: 300_000, pendingTimeout: 90_000, resync: 600_000 });
    assert.throws(() => parseConfig("worker: {applyConcurrency: 0}", "w.yaml"), /w\.yaml:1: worker\.applyConcurrency: expected at least 1/);
    assert.throws(() => parseConfig("worker: {routeBatch: 2.5}", "w.yaml"), /w\.yaml:1: worker\.routeBatch: expected a whole number of events/);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { COMMANDS, main } from "../../src/cli/main.ts";
import { VERSION } from "../../src/version.ts";
import { runtimeCommand } from "../support/runtime-command.ts";

const ROOT = join(import.meta.dirname, "..", "..");

async function run(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t), env, cwd: ROOT });
  return { code, out, err };
}

describe("fluxgate command line", () => {
  it("lists every command with --help and exits 0", async () => {
    const r = await run(["--help"]);
    assert.equal(r.code, 0);
    const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    for (const c of COMMANDS) assert.match(r.out, new RegExp(`^  ${c.name} +${escape(c.summary)}$`, "m"));
    assert.deepEqual(COMMANDS.map((c) => c.name), ["serve", "check", "windows", "certs", "version"]);
  });

  it("prints the command list and exits 2 with no command", async () => {
    const r = await run([]);
    assert.equal(r.code, 2);
    assert.match(r.out, /^Usage: fluxgate <command> \[flags\]$/m);
  });

  it("has --help and -h on every verb, and 'help <verb>'", async () => {
    for (const c of COMMANDS) {
      for (const argv of [[c.name, "--help"], [c.name, "-h"], ["help", c.name]]) {
        const r = await run(argv);
        assert.equal(r.code, 0, argv.join(" "));
        assert.equal(r.out, c.help);
        assert.match(r.out, new RegExp(`^Usage: fluxgate ${c.name}`));
      }
    }
  });

  it("rejects an unknown command with exit 2 and the list of commands", async () => {
    const r = await run(["srve"]);
    assert.equal(r.code, 2);
    assert.equal(r.err, `fluxgate: unknown command "srve"; expected one of: serve, check, windows, certs, version (see 'fluxgate --help')\n`);
  });

  it("rejects unknown flags and missing flag values with exit 2, naming the flag", async () => {
    const unknown = await run(["serve", "--port", "9443"]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.err, "fluxgate: serve: Unknown option '--port' (see 'fluxgate serve --help')\n");
    const missing = await run(["serve", "--config"]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /^fluxgate: serve: Option '-c, --config <value>' argument missing/);
    const positional = await run(["version", "extra"]);
    assert.equal(positional.code, 2);
    assert.match(positional.err, /^fluxgate: version: Unexpected argument 'extra'/);
  });

  it("rejects bad serve flag values with exit 2 before starting anything", async () => {
    assert.deepEqual(await run(["serve", "--roles", "admission,gate"]), {
      code: 2,
      out: "",
      err: 'fluxgate: --roles: expected a comma-separated list of admission, receiver, worker, got "admission,gate"\n',
    });
    assert.deepEqual(await run(["serve", "--health-addr", "9440"]), {
      code: 2,
      out: "",
      err: 'fluxgate: --health-addr: expected an address like ":9443" or "127.0.0.1:9443", got "9440"\n',
    });
    assert.equal((await run(["serve", "--log-level", "loud"])).code, 2);
  });

  it("exits 1 with the config error when the configuration file is bad", async () => {
    const r = await run(["serve"], { FLUXGATE_CONFIG: "/nonexistent/fluxgate.yaml" });
    assert.equal(r.code, 1);
    assert.equal(r.err, "fluxgate: invalid configuration /nonexistent/fluxgate.yaml: (top level): cannot read the file: no such file\n");
  });

  it("prints the version as text and JSON", async () => {
    const text = await run(["version"]);
    assert.equal(text.code, 0);
    assert.match(text.out, new RegExp(`^fluxgate ${VERSION.replaceAll(".", "\\.")} \\(revision \\S+, (node|bun|deno) \\S+\\)\\n$`));
    const json = JSON.parse((await run(["version", "-o", "json"])).out) as Record<string, string>;
    assert.deepEqual(Object.keys(json), ["version", "revision", "runtime", "runtimeVersion"]);
    assert.equal(json.version, VERSION);
    assert.equal((await run(["version", "--output", "yaml"])).code, 2);
  });

  it("gives the same exit codes and messages as a real process", () => {
    const bin = join(ROOT, "bin", "fluxgate.ts");
    const [cmd, base] = runtimeCommand(bin);
    const help = spawnSync(cmd, [...base, "--help"], { encoding: "utf8" });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^fluxgate: admission gate/);
    const bad = spawnSync(cmd, [...base, "serve", "--bogus"], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, "fluxgate: serve: Unknown option '--bogus' (see 'fluxgate serve --help')\n");
  });
});

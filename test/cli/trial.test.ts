/**
 * The README's trial, as a user runs it: `fluxgate serve` with no configuration file and no cluster, then the
 * README's own shell blocks (curl, openssl, `npx fluxgate windows`) run by bash against it, only the listeners'
 * addresses changed to this test's free ports.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { runtimeCommand } from "../support/runtime-command.ts";
import { spawnFluxgate } from "../support/spawn-serve.ts";
import type { ServeProcess } from "../support/spawn-serve.ts";
import { until } from "../support/until.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const run = promisify(execFile);

/** The shell block after `<!-- walkthrough: NAME -->` in the README. */
function walkthroughBlock(readme: string, name: string): string {
  const m = new RegExp(`<!-- walkthrough: ${name} -->\\n\`\`\`sh\\n([\\s\\S]*?)\`\`\``).exec(readme);
  assert.ok(m?.[1] !== undefined, `README has a walkthrough block "${name}"`);
  return m[1];
}

/** A serve process's environment with no cluster to find and no configuration file. */
function trialEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  for (const k of ["FLUXGATE_CONFIG", "KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"]) delete env[k];
  return env;
}

describe("the README's trial", () => {
  let dir = "";
  let serve: ServeProcess | undefined;
  let urls: Record<string, string> = {};
  let readme = "";
  const shell = async (block: string) => {
    const [cmd, args] = runtimeCommand(join(ROOT, "bin/fluxgate.ts"));
    const script = block
      .replaceAll("http://localhost:9292", urls.receiver ?? "")
      .replaceAll("https://localhost:9443", urls.admission ?? "")
      .replaceAll("npx fluxgate", [cmd, ...args].join(" "));
    const { stdout } = await run("bash", ["-euo", "pipefail", "-c", script], { cwd: ROOT, env: trialEnv(dir), timeout: 30_000 });
    return stdout;
  };

  before(async () => {
    readme = await readFile(join(ROOT, "README.md"), "utf8");
    dir = await mkdtemp(join(tmpdir(), "fluxgate-trial-"));
    const addr = ["admission", "receiver", "metrics", "health"].flatMap((n) => [`--${n}-addr`, "127.0.0.1:0"]);
    serve = spawnFluxgate(["serve", ...addr], { cwd: dir, env: trialEnv(dir), listeners: ["admission", "receiver", "health"] });
    urls = await serve.started();
    await until(async () => (await fetch(`${urls.health}/readyz`)).status === 200, { timeoutMs: 20_000, what: "readiness" });
  });
  after(async () => {
    serve?.signal("SIGTERM");
    const code = await serve?.exited;
    await rm(dir, { recursive: true, force: true });
    assert.equal(code, 0, "exits 0 on SIGTERM");
  });

  it("starts in the embedded mode on the example manifests, with certificates made on first start", () => {
    const lines = serve?.lines ?? [];
    assert.equal(lines.find((l) => l.msg === "starting fluxgate")?.config, "(embedded defaults)");
    assert.ok(lines.some((l) => l.msg === "issued self-signed serving certificate"));
    const using = lines.find((l) => typeof l.msg === "string" && l.msg.startsWith("using manifests instead of a cluster"));
    assert.equal(using?.dir, join(ROOT, "examples/trial"));
    assert.deepEqual(using?.policies, ["trial"]);
  });

  it("a signed GitHub push is accepted and the worker names the GitRepository it would reconcile, only that one", async () => {
    const out = JSON.parse(await shell(walkthroughBlock(readme, "push"))) as { result: string; receiver: string; events: Array<{ id: string }> };
    assert.equal(out.result, "accepted");
    assert.equal(out.receiver, "team-a/github");
    const id = "github/team-a/github/4c2d8b30-1c5e-11ef-9b2f-8e7a5c3b1d40";
    assert.deepEqual(out.events.map((e) => e.id), [id]);
    const msg = "dry run: would request a reconcile of GitRepository team-a/app";
    await until(() => serve?.lines.some((l) => l.msg === msg) === true, { what: "the dry-run log line" });
    const line = serve?.lines.find((l) => l.msg === msg);
    assert.equal(line?.object, "GitRepository/team-a/app");
    assert.equal(line?.event, id);
    assert.equal(line?.change, "refs/heads/main@0d1a26e");
    assert.ok(readme.includes(`"msg":"${msg}"`), "the README shows that log line");
    assert.ok(!serve?.lines.some((l) => typeof l.msg === "string" && l.msg.includes("app-releases")), "the semver GitRepository is not reconciled by a branch push");

    const status = (await (await fetch(`${urls.health}/status.json`)).json()) as { deliveries: Array<{ status: number; events: string[]; targets: unknown }> };
    const delivery = status.deliveries.find((d) => d.events.includes(id));
    assert.equal(delivery?.status, 202);
    assert.deepEqual(delivery?.targets, [{ object: "GitRepository/team-a/app", outcome: "dry run: reconcile would be requested" }]);
  });

  it("the AdmissionReview is denied with the message the README shows", async () => {
    const out = JSON.parse(await shell(walkthroughBlock(readme, "review"))) as { response: { uid: string; allowed: boolean; status: unknown } };
    assert.equal(out.response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert.equal(out.response.allowed, false);
    const shown = /^"status":(\{"code":403.*\})$/m.exec(readme)?.[1];
    assert.ok(shown !== undefined, "the README shows the status");
    assert.deepEqual(out.response.status, JSON.parse(shown));
  });

  it("fluxgate windows lists the trial's window", async () => {
    const out = await shell(walkthroughBlock(readme, "windows"));
    assert.match(out, /^Deployment windows at \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z:/);
    assert.match(out, /\nno-weekend-deploys +deny +(in)?active +Europe\/Berlin +0 0 \* \* 6 for 48h +tenants team-a; kinds Kustomization,HelmRelease +(starts|ends) /);
  });
});

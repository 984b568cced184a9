import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { statusHtml } from "../../src/server/status.ts";
import type { StatusData } from "../../src/server/status.ts";
import { startServer } from "../../src/server/start.ts";
import type { RunningServer } from "../../src/server/start.ts";
import { webhookPath } from "../../src/webhooks/receiver-index.ts";
import { VERSION } from "../../src/version.ts";
import { localConfig } from "../support/local-config.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { fixture, hmacHex } from "../support/webhook-fixtures.ts";

describe("status page", () => {
  let dir: string;
  let server: RunningServer;
  let health: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fluxgate-status-"));
    await writeFile(join(dir, "token"), "s3cr3t");
    const config = localConfig(dir, [
      "roles: [receiver]",
      "receivers:",
      "  - {name: github-receiver, type: github, secret: {file: token}}",
      "policy:",
      "  tenants: [{name: dev-team, namespaces: [apps], serviceAccountName: dev-team}]",
      "  windows:",
      "    - {name: year-end-freeze, kind: deny, timeZone: Europe/Berlin, ranges: [{start: '2026-12-19', end: '2027-01-04T09:00'}]}",
    ]);
    server = await startServer(config, { log: quietLogger(), baseDir: dir, now: () => new Date("2026-12-24T12:00:00Z") });
    health = server.listeners.health?.url ?? "";
    const ping = fixture("github/ping-payload.json");
    await fetch(`${server.listeners.receiver?.url ?? ""}${webhookPath("s3cr3t", "github-receiver", "flux-system")}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "ping", "x-github-delivery": "p-1", "x-hub-signature-256": `sha256=${hmacHex("sha256", "s3cr3t", ping)}` },
      body: ping,
    });
    await fetch(`${server.listeners.receiver?.url ?? ""}/hook/unknown`, { method: "POST", body: "{}" });
  });
  after(async () => {
    await server?.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves /status.json: versions, readiness, tenants, windows with their next transition, the last deliveries", async () => {
    const r = await fetch(`${health}/status.json`);
    assert.equal(r.status, 200);
    const d = (await r.json()) as StatusData;
    assert.equal(d.fluxgate.version, VERSION);
    assert.deepEqual(d.fluxgate.roles, ["receiver"]);
    assert.equal(d.ready, true);
    assert.deepEqual(d.tenants, [{ name: "dev-team", namespaces: ["apps"], serviceAccountName: "dev-team" }]);
    assert.deepEqual(d.windows, [
      { name: "year-end-freeze", kind: "deny", timeZone: "Europe/Berlin", active: true, nextTransition: "2027-01-04 09:00 Europe/Berlin (2027-01-04T08:00:00Z)", nextTransitionUtc: "2027-01-04T08:00:00.000Z" },
    ]);
    assert.deepEqual(
      d.deliveries.map((x) => [x.receiver, x.provider, x.eventType, x.status, x.result]),
      [
        ["", "", "", 404, "NotFound"],
        ["flux-system/github-receiver", "github", "ping", 200, "ping"],
      ],
    );
  });

  it("serves the same as HTML, every value escaped", async () => {
    const r = await fetch(`${health}/status`);
    assert.equal(r.headers.get("content-type"), "text/html; charset=utf-8");
    const html = await r.text();
    assert.match(html, /<h1>Fluxgate [^<]+ <span class="ok">ready<\/span><\/h1>/);
    assert.match(html, /<td>year-end-freeze<\/td><td>deny<\/td><td>active<\/td><td>2027-01-04 09:00 Europe\/Berlin \(2027-01-04T08:00:00Z\)<\/td>/);
    assert.match(html, /<td>flux-system\/github-receiver<\/td><td>github<\/td><td>ping<\/td><td>200 ping<\/td>/);
    const evil = statusHtml({
      fluxgate: { version: "1", revision: "r", runtime: "node", runtimeVersion: "24", roles: [] },
      ready: false,
      checks: [],
      tenants: [{ name: "<script>alert(1)</script>", namespaces: [], serviceAccountName: "x" }],
      windows: [],
      deliveries: [],
      generatedAt: "t",
    });
    assert.doesNotMatch(evil, /<script>/);
    assert.match(evil, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });
});

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { changeEvent } from "../../src/events/change-event.ts";
import { trigger as triggerSchema } from "../../src/events/trigger.ts";
import { deliveryLog, statusHtml } from "../../src/server/status.ts";
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
      held: [],
      deliveries: [],
      generatedAt: "t",
    });
    assert.doesNotMatch(evil, /<script>/);
    assert.match(evil, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });
});

describe("delivery log", () => {
  const event = (id: string) => changeEvent.parse({ id, provider: "github", receiver: { namespace: "apps", name: "hook" }, eventType: "push", kind: "generic", deleted: false, receivedAt: "2026-11-25T10:00:00.000Z" });
  const trigger = (id: string, name: string) =>
    triggerSchema.parse({
      target: { namespace: "apps", kind: "GitRepository", name },
      labels: {},
      via: "source",
      event: { id, provider: "github", receiver: { namespace: "apps", name: "hook" }, kind: "git", receivedAt: "2026-11-25T10:00:00.000Z" },
      routedAt: "2026-11-25T10:00:00.001Z",
    });
  const answered = (id: string) => ({ at: "2026-11-25T10:00:00.000Z", receiver: "apps/hook", provider: "github", eventType: "push", status: 202, result: "accepted", events: [id] });

  it("joins the receiver's answer, the router's targets and the applier's outcomes, whatever their order", () => {
    const log = deliveryLog(10);
    // In-process bus: the applier may report before the router, and both before the receiver records its answer.
    log.outcome(trigger("e1", "web"), { result: "would-request" });
    log.routed(event("e1"), [
      { object: "GitRepository/apps/web", state: "triggered" },
      { object: "GitRepository/apps/old", state: "suspended" },
    ]);
    log.record(answered("e1"));
    log.record(answered("e2"));
    log.routed(event("e2"), [{ object: "GitRepository/apps/web", state: "triggered" }]);
    log.outcome(trigger("e2", "web"), { result: "held", until: "2026-12-27T00:00:00.000Z" });
    assert.deepEqual(
      log.list().map((d) => [d.events[0], d.status, d.targets]),
      [
        ["e2", 202, [{ object: "GitRepository/apps/web", outcome: "held until 2026-12-27T00:00:00.000Z (deployment window closed)" }]],
        [
          "e1",
          202,
          [
            { object: "GitRepository/apps/web", outcome: "dry run: reconcile would be requested" },
            { object: "GitRepository/apps/old", outcome: "skipped: suspended" },
          ],
        ],
      ],
    );
  });

  it("keeps a delivery of several events in one entry, whichever event the worker reports first", () => {
    const log = deliveryLog(10);
    log.routed(event("m1"), [{ object: "GitRepository/apps/a", state: "triggered" }]);
    log.record({ ...answered("m1"), events: ["m1", "m2"] });
    log.routed(event("m2"), [{ object: "GitRepository/apps/b", state: "triggered" }]);
    assert.equal(log.list().length, 1);
    assert.deepEqual(log.list()[0]?.events, ["m1", "m2"]);
    assert.deepEqual(log.list()[0]?.targets?.map((t) => t.object), ["GitRepository/apps/a", "GitRepository/apps/b"]);
  });

  it("shows events only routed here as answered elsewhere, and keeps the newest `size` entries", () => {
    const log = deliveryLog(3);
    for (const id of ["a", "b", "c", "d"]) log.routed(event(id), []);
    assert.deepEqual(log.list().map((d) => [d.events[0], d.status, d.receiver]), [["d", undefined, "apps/hook"], ["c", undefined, "apps/hook"], ["b", undefined, "apps/hook"]]);
    log.outcome(trigger("a", "web"), { result: "requested" }); // evicted: comes back as a new entry, not a crash
    assert.equal(log.list()[0]?.targets?.[0]?.outcome, "reconcile requested");
    assert.equal(log.list().length, 3);
  });
});

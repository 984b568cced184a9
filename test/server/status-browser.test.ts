/**
 * The status page in a real browser: Debian's Chromium driven by playwright-core (`.ci/run` installs the package),
 * against a server whose worker holds a trigger for a closed window. Saves a screenshot to
 * test-artifacts/status-<runtime>.png.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import type { Browser } from "playwright-core";
import { startServer } from "../../src/server/start.ts";
import type { RunningServer } from "../../src/server/start.ts";
import type { StatusData } from "../../src/server/status.ts";
import { runtime } from "../../src/version.ts";
import { webhookPath } from "../../src/webhooks/receiver-index.ts";
import { localConfig } from "../support/local-config.ts";
import { quietLogger } from "../support/quiet-logger.ts";
import { until } from "../support/until.ts";
import { hmacHex } from "../support/webhook-fixtures.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const CHROMIUM = "/usr/bin/chromium";
/** As the machine's notes say: no sandbox as root, and nothing that reaches for the network on its own. */
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const NOW = new Date("2026-12-24T12:00:00Z");

const MANIFESTS = `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: web, namespace: apps}
spec: {interval: 5m, url: "https://github.com/org/web", ref: {branch: main}}
---
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: github, namespace: apps}
spec:
  type: github
  secretRef: {name: webhook-token}
  resources: [{apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository, name: web}]
---
apiVersion: v1
kind: Secret
metadata: {name: webhook-token, namespace: apps}
stringData: {token: s3cr3t}
---
apiVersion: fluxgate.io/v1alpha1
kind: FluxgatePolicy
metadata: {name: apps}
spec:
  tenants: [{name: apps-team, namespaces: [apps], serviceAccountName: apps-team}]
  windows:
    - name: christmas-freeze
      kind: deny
      timeZone: Europe/Berlin
      ranges: [{start: "2026-12-23", end: "2026-12-27"}]
`;

const PUSH = JSON.stringify({
  ref: "refs/heads/main",
  after: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
  repository: { clone_url: "https://github.com/org/web.git", ssh_url: "git@github.com:org/web.git" },
});

describe("status page in headless Chromium", () => {
  let dir = "";
  let server: RunningServer | undefined;
  let browser: Browser | undefined;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
    dir = await mkdtemp(join(tmpdir(), "fluxgate-status-browser-"));
    await mkdir(join(dir, "cluster"));
    await writeFile(join(dir, "cluster", "apps.yaml"), MANIFESTS);
    server = await startServer(localConfig(dir, ["roles: [receiver, worker]"]), { log: quietLogger(), baseDir: dir, now: () => NOW, manifests: { dir: join(dir, "cluster"), when: "always" } });
    const receiver = server.listeners.receiver?.url ?? "";
    const answer = await fetch(`${receiver}${webhookPath("s3cr3t", "github", "apps")}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": "d-1", "x-hub-signature-256": `sha256=${hmacHex("sha256", "s3cr3t", new TextEncoder().encode(PUSH))}` },
      body: PUSH,
    });
    assert.equal(answer.status, 202);
    const health = server.listeners.health?.url ?? "";
    await until(async () => ((await (await fetch(`${health}/status.json`)).json()) as StatusData).held.length === 1, { what: "the held trigger" });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
    await server?.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it("shows versions, tenants, windows, the held trigger and the delivery with its outcome; screenshot saved", async () => {
    const page = await (browser as Browser).newPage({ viewport: { width: 1400, height: 900 } });
    const answer = await page.goto(`${server?.listeners.health?.url ?? ""}/status`);
    assert.equal(answer?.status(), 200);
    assert.equal(await page.title(), "Fluxgate status");
    assert.match((await page.textContent("h1")) ?? "", /^Fluxgate \S+ ready$/);

    /** The cells of the table after the heading `h2`, row by row. */
    const rows = (h2: string) =>
      page.$$eval(`h2:text-is("${h2}") + table tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => (td.textContent ?? "").trim())));
    assert.deepEqual(await rows("Tenants"), [["apps-team", "apps", "apps-team"]]);
    assert.deepEqual(await rows("Deployment windows"), [["christmas-freeze", "deny", "active", "2026-12-27 00:00 Europe/Berlin (2026-12-26T23:00:00Z)"]]);
    const held = await rows("Held triggers");
    assert.equal(held.length, 1);
    assert.deepEqual(held[0]?.slice(0, 5), ["GitRepository/apps/web", "deployment window", "2026-12-26T23:00:00.000Z", "github/apps/github/d-1", "refs/heads/main@0d1a26e"]);
    const deliveries = await rows("Last deliveries");
    assert.equal(deliveries.length, 1);
    assert.deepEqual(deliveries[0]?.slice(1, 6), ["apps/github", "github", "push", "202 accepted", "github/apps/github/d-1"]);
    assert.equal(deliveries[0]?.[6], "GitRepository/apps/web: held until 2026-12-26T23:00:00.000Z (deployment window closed)");
    // Rendered, not only present: the held trigger's row is on screen.
    assert.ok(await page.isVisible('td:text-is("GitRepository/apps/web")'));

    const artifacts = join(ROOT, "test-artifacts");
    await mkdir(artifacts, { recursive: true });
    const file = join(artifacts, `status-${runtime().name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    const png = await readFile(file);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG file");
    assert.ok(png.length > 10_000, `a real screenshot, not an empty image (${png.length} bytes)`);
  });
});

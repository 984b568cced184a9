import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureCerts } from "../../certs/store.ts";
import { describeCert, servingDnsNames } from "../../certs/issue.ts";
import type { Logger } from "../../src/observability/logger.ts";
import { baseApp } from "../../src/server/app.ts";
import { startServer } from "../../src/server/start.ts";
import type { RunningServer } from "../../src/server/start.ts";
import { httpsGet } from "../support/https-get.ts";
import { localConfig } from "../support/local-config.ts";
import { quietLogger as quiet } from "../support/quiet-logger.ts";
import { until } from "../support/until.ts";

const serialOf = (pem: string) => describeCert(pem).serial.toUpperCase();

function slowRoutes(log: Logger) {
  return {
    admission: baseApp("admission", log)
      .get("/", () => "ok")
      .get("/slow", async () => {
        await new Promise((r) => setTimeout(r, 800));
        return "finished";
      }),
  };
}

describe("admission listener TLS", () => {
  let dir: string;
  let server: RunningServer;
  let port: number;
  let caPem: string;
  let certPem: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fluxgate-tls-"));
    const config = localConfig(dir, ["roles: [admission]", "tls:", "  dir: certs", "  reloadInterval: 200ms"]);
    const log = quiet();
    server = await startServer(config, { log, baseDir: dir, routes: slowRoutes(log) });
    port = server.listeners.admission?.port ?? 0;
    caPem = await readFile(join(dir, "certs", "ca.crt"), "utf8");
    certPem = await readFile(join(dir, "certs", "tls.crt"), "utf8");
  });
  after(async () => {
    await server?.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it("creates a CA and serving certificate on first start and is ready once it serves them", async () => {
    assert.ok(port > 0);
    assert.equal(server.readiness.ready, true);
    assert.deepEqual(server.readiness.checks().map((c) => [c.name, c.ready]), [["tls", true]]);
  });

  it("is reachable by every Service name of the certificate and by IP, trusting only the issued CA", async () => {
    for (const name of [...servingDnsNames("fluxgate", "fluxgate-system"), "localhost"]) {
      const r = await httpsGet({ port, ca: caPem, servername: name });
      assert.equal(r.status, 200, name);
      assert.equal(r.body, "ok");
      assert.equal(r.peerSerial, serialOf(certPem));
    }
    assert.equal((await httpsGet({ port, ca: caPem })).status, 200);
  });

  it("is refused by a client that trusts another CA, or asks for a name the certificate lacks", async () => {
    const other = await mkdtemp(join(tmpdir(), "fluxgate-tls-other-"));
    try {
      const foreign = await ensureCerts(other, { service: "fluxgate", namespace: "fluxgate-system" });
      await assert.rejects(httpsGet({ port, ca: foreign.caPem, servername: "fluxgate.fluxgate-system.svc" }));
      await assert.rejects(httpsGet({ port, ca: caPem, servername: "fluxgate.other-namespace.svc" }), /does not match|altnames|Hostname/i);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it("serves replaced certificate files to new connections while a request started before completes", async () => {
    const slow = httpsGet({ port, ca: caPem, servername: "fluxgate.fluxgate-system.svc", path: "/slow" });
    await new Promise((r) => setTimeout(r, 100));

    // A new CA and pair, moved into place the way kubelet updates a Secret volume: each file replaced atomically.
    const staging = await mkdtemp(join(tmpdir(), "fluxgate-tls-next-"));
    const next = await ensureCerts(staging, { service: "fluxgate", namespace: "fluxgate-system" });
    for (const f of ["tls.key", "tls.crt"]) {
      await copyFile(join(staging, f), join(dir, "certs", `.${f}.new`));
      await rename(join(dir, "certs", `.${f}.new`), join(dir, "certs", f));
    }
    await rm(staging, { recursive: true, force: true });

    await until(async () => (await httpsGet({ port, ca: next.caPem, servername: "fluxgate.fluxgate-system.svc" }).catch(() => undefined))?.status === 200, {
      what: "the new certificate to be served",
    });
    const fresh = await httpsGet({ port, ca: next.caPem, servername: "fluxgate.fluxgate-system.svc" });
    assert.equal(fresh.peerSerial, serialOf(next.certPem));
    await assert.rejects(httpsGet({ port, ca: caPem, servername: "fluxgate.fluxgate-system.svc" }), "the old CA no longer verifies new connections");

    const done = await slow;
    assert.equal(done.status, 200);
    assert.equal(done.body, "finished");
    assert.equal(done.peerSerial, serialOf(certPem), "the in-flight request kept its connection and certificate");
    assert.equal(server.listeners.admission?.port, port, "same port throughout");
  });
});

describe("admission listener with mounted certificate files", () => {
  it("waits, not ready, until the files appear, then serves them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fluxgate-tls-mount-"));
    const mount = join(dir, "mount");
    const config = localConfig(dir, ["roles: [admission]", "tls:", `  certFile: ${join(mount, "tls.crt")}`, `  keyFile: ${join(mount, "tls.key")}`, "  reloadInterval: 100ms"]);
    const log = quiet();
    const server = await startServer(config, { log, baseDir: dir, routes: slowRoutes(log) });
    const admissionPort = () => server.listeners.admission?.port;
    try {
      assert.equal(server.readiness.ready, false);
      assert.deepEqual(server.readiness.checks().map((c) => [c.name, c.ready, c.reason]), [["tls", false, "no serving certificate loaded yet"]]);
      assert.equal(admissionPort(), undefined);

      const issued = await ensureCerts(mount, { service: "fluxgate", namespace: "fluxgate-system" });
      await until(() => server.readiness.ready, { what: "readiness" });
      const r = await httpsGet({ port: admissionPort() ?? 0, ca: issued.caPem, servername: "fluxgate.fluxgate-system.svc" });
      assert.equal(r.status, 200);
      assert.equal(r.peerSerial, serialOf(issued.certPem));
    } finally {
      await server.shutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

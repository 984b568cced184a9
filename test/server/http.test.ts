import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RequestError } from "../../src/errors.ts";
import { baseApp } from "../../src/server/app.ts";
import { readBody } from "../../src/server/request-pipeline.ts";
import { startServer } from "../../src/server/start.ts";
import type { RunningServer } from "../../src/server/start.ts";
import { httpsGet } from "../support/https-get.ts";
import { localConfig } from "../support/local-config.ts";
import { parsePrometheusText } from "../support/prometheus-text.ts";
import { capturingLogger } from "../support/quiet-logger.ts";
import { runtime } from "../../src/version.ts";

describe("HTTP serving", () => {
  let dir: string;
  let server: RunningServer;
  let ca: string;
  let lines: Array<Record<string, unknown>>;
  const admission = (o: Omit<Parameters<typeof httpsGet>[0], "port" | "ca">) =>
    httpsGet({ port: server.listeners.admission?.port ?? 0, ca, servername: "localhost", ...o });
  const plain = (listener: "metrics" | "health", path: string) => fetch(`http://127.0.0.1:${server.listeners[listener]?.port ?? 0}${path}`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fluxgate-http-"));
    const config = localConfig(dir, ["roles: [admission]", "tls: {dir: certs}", "http:", "  bodyLimit: 64Ki", "  requestTimeout: 300ms"]);
    const captured = capturingLogger("debug");
    lines = captured.lines;
    const log = captured.log;
    const app = baseApp("admission", log)
      .post("/echo-size", async ({ request }) => Response.json({ bytes: (await readBody(request, config.http.bodyLimit)).byteLength }), { parse: "none" })
      .get("/forbidden", () => {
        throw new RequestError(403, "Forbidden", "tenant \"dev\" may not do that");
      })
      .get("/crash", () => {
        throw new Error("database password=hunter2 leaked into an exception");
      })
      .get("/hang", () => new Promise<Response>(() => {}));
    server = await startServer(config, { log, baseDir: dir, routes: { admission: app } });
    ca = await readFile(join(dir, "certs", "ca.crt"), "utf8");
  });
  after(async () => {
    await server?.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it("accepts a body up to the limit and answers 413 with a reason past it", async () => {
    const ok = await admission({ method: "POST", path: "/echo-size", body: new Uint8Array(64 * 1024) });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { bytes: 65536 });

    const big = await admission({ method: "POST", path: "/echo-size", body: new Uint8Array(64 * 1024 + 1) });
    assert.equal(big.status, 413);
    const body = JSON.parse(big.body) as { reason: string; message: string; requestId: string };
    assert.equal(body.reason, "RequestEntityTooLarge");
    assert.equal(body.message, "request body is 65537 bytes; the limit is 65536 bytes");
  });

  it("counts the bytes of a chunked body without Content-Length against the limit", async () => {
    const big = await admission({ method: "POST", path: "/echo-size", body: new Uint8Array(100 * 1024), headers: { "transfer-encoding": "chunked" } });
    assert.equal(big.status, 413);
    assert.equal((JSON.parse(big.body) as { message: string }).message, "request body is over the limit of 65536 bytes");
    // The rest of the upload is not drained: the connection is closed.
    assert.equal(big.headers["connection"], "close");
  });

  it("answers a RequestError with its status and reason, and echoes the caller's request id", async () => {
    const r = await admission({ path: "/forbidden", headers: { "x-request-id": "apiserver-42" } });
    assert.equal(r.status, 403);
    assert.deepEqual(JSON.parse(r.body), { reason: "Forbidden", message: 'tenant "dev" may not do that', requestId: "apiserver-42" });
    assert.equal(r.headers["x-request-id"], "apiserver-42");
  });

  it("answers an unexpected error with 500 that hides the details, which go to the log", async () => {
    const r = await admission({ path: "/crash" });
    assert.equal(r.status, 500);
    const body = JSON.parse(r.body) as { reason: string; message: string; requestId: string };
    assert.equal(body.reason, "InternalError");
    assert.equal(body.message, `internal error; the log has the details under requestId ${body.requestId}`);
    assert.doesNotMatch(r.body, /hunter2/);
    const logged = lines.find((l) => l.msg === "request failed" && l.requestId === body.requestId);
    assert.ok(logged, "the failure is logged with its request id");
  });

  it("answers 404 with a reason for an unknown path", async () => {
    const r = await admission({ path: "/nowhere" });
    assert.equal(r.status, 404);
    assert.equal((JSON.parse(r.body) as { reason: string }).reason, "NotFound");
  });

  it("answers 503 with Retry-After when a request takes longer than the request timeout", async () => {
    const started = Date.now();
    const r = await admission({ path: "/hang" });
    assert.equal(r.status, 503);
    assert.equal(r.headers["retry-after"], "1");
    assert.equal((JSON.parse(r.body) as { reason: string }).reason, "Timeout");
    assert.ok(Date.now() - started < 2000);
  });

  it("logs each request as JSON with its request id, method, path and status", async () => {
    await admission({ path: "/", headers: { "x-request-id": "trace-me" } });
    const line = lines.find((l) => l.requestId === "trace-me" && l.msg === "request");
    assert.deepEqual(
      { listener: line?.listener, method: line?.method, path: line?.path, status: line?.status, level: line?.level },
      { listener: "admission", method: "GET", path: "/", status: 404, level: "debug" },
    );
  });

  it("serves /metrics in Prometheus text format with process metrics, build info and request latency", async () => {
    const r = await plain("metrics", "/metrics");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusText(await r.text());
    const info = families.get("fluxgate_build_info");
    assert.equal(info?.type, "gauge");
    assert.equal(info?.samples.length, 1);
    assert.equal(info?.samples[0]?.value, 1);
    assert.deepEqual(Object.keys(info?.samples[0]?.labels ?? {}).sort(), ["revision", "runtime", "runtime_version", "version"]);
    assert.equal(families.get("process_resident_memory_bytes")?.type, "gauge");
    assert.ok((families.get("process_resident_memory_bytes")?.samples[0]?.value ?? 0) > 0);
    // Per heap space: left out on Bun, where reading them walks the heap on every scrape.
    assert.equal(families.has("nodejs_heap_space_size_used_bytes"), runtime().name !== "bun");
    assert.equal(families.get("nodejs_heap_size_used_bytes")?.type, "gauge");
    const latency = families.get("fluxgate_http_request_duration_seconds");
    assert.equal(latency?.type, "histogram");
    assert.ok(latency?.samples.some((s) => s.name.endsWith("_count") && s.labels.listener === "admission" && s.labels.code === "413"));
    assert.equal(families.get("fluxgate_tls_certificate_expiry_timestamp_seconds")?.type, "gauge");
  });

  it("answers /healthz and /readyz, verbose on request", async () => {
    assert.equal(await (await plain("health", "/healthz")).text(), "ok\n");
    assert.equal(await (await plain("health", "/readyz")).text(), "ok\n");
    assert.equal(await (await plain("health", "/readyz?verbose")).text(), "[+]tls ok\nreadyz check passed\n");
  });
});

describe("the Prometheus text reader used above", () => {
  it("rejects what Prometheus would reject", () => {
    assert.throws(() => parsePrometheusText("# TYPE x gauge\nx{a=\"1} 1\n"), /bad labels/);
    assert.throws(() => parsePrometheusText("y 1\n"), /undeclared/);
    assert.throws(() => parsePrometheusText("# TYPE x gauge\nx one\n"), /bad sample value/);
    assert.throws(() => parsePrometheusText("# TYPE x gauge\nx 1"), /end with a newline/);
    assert.equal(parsePrometheusText('# TYPE x_total counter\nx_total{a="q\\"uote"} 2 1700000000\n').get("x_total")?.samples[0]?.labels.a, 'q"uote');
  });
});

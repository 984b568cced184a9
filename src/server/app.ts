/**
 * The Elysia app of each listener. Every app maps errors through `errorResponse`, so a route only throws a
 * `RequestError` and never builds an error body itself. Routes of later roles (admission review, webhook receiver)
 * are plugins added with `.use()`.
 */
import { Elysia } from "elysia";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { REVISION, VERSION, runtime } from "../version.ts";
import { errorResponse } from "./error-response.ts";
import type { Readiness } from "./readiness.ts";
import { requestIdOf } from "./request-pipeline.ts";

/**
 * An app with Fluxgate's error mapping and no body parsing: routes read bodies with `readBody`, so the limit holds
 * and HMAC routes see the raw bytes.
 * @example baseApp("receiver", log).post("/hook/:id", handler)
 */
export function baseApp(listener: string, log: Logger) {
  return new Elysia({ name: `fluxgate-${listener}` })
    .onError(({ error, code, request }) => errorResponse(error, requestIdOf(request), log, code));
}

/** `/healthz` (alive while the process serves) and `/readyz` (every role's checks ready), Kubernetes style. */
export function healthApp(readiness: Readiness, log: Logger) {
  const text = (body: string, status = 200) => new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
  return baseApp("health", log)
    .get("/healthz", () => text("ok\n"))
    .get("/livez", () => text("ok\n"))
    .get("/readyz", ({ request }) => {
      const verbose = new URL(request.url).searchParams.has("verbose");
      const lines = readiness.checks().map((c) => (c.ready ? `[+]${c.name} ok` : `[-]${c.name} failed: ${c.reason}`));
      if (readiness.shuttingDown) lines.push("[-]shutdown failed: shutting down");
      if (readiness.ready) return text(verbose ? `${lines.join("\n")}\nreadyz check passed\n` : "ok\n");
      return text(`${lines.join("\n")}\nreadyz check failed\n`, 503);
    });
}

/** `/metrics` in the Prometheus text format. */
export function metricsApp(registry: Registry, log: Logger) {
  return baseApp("metrics", log).get("/metrics", async () => new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } }));
}

/** What a listener answers at `/` before its role's routes exist: enough to see who is listening. */
export function identityRoute(listener: string) {
  return new Elysia({ name: `identity-${listener}` }).get("/", () => Response.json({ service: "fluxgate", listener, version: VERSION, revision: REVISION, runtime: runtime().name }));
}

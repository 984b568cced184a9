/**
 * The admission listener's routes, called by kube-apiserver: `POST /validate` (allow, deny with 403 and every
 * violation, warn for audit-mode rules) and `POST /mutate` (only a JSONPatch, only when it changes something).
 * Both read the review within the body limit, answer 400 for a malformed one, and hand the request to the
 * injected evaluator; evaluation is pure, so a `dryRun` request is judged like any other and only kept out of the
 * policy counters.
 */
import type { Logger } from "pino";
import { Counter, Histogram } from "prom-client";
import type { Registry } from "prom-client";
import { parseDuration } from "../config/duration.ts";
import { RequestError } from "../errors.ts";
import { FLUX_KIND_NAMES } from "../flux/kinds.ts";
import { baseApp } from "../server/app.ts";
import { jsonResponse } from "../server/json-response.ts";
import { readBody, requestIdOf } from "../server/request-pipeline.ts";
import { allowedResponse, describeObject, parseReview, reviewResponse, toAdmissionInput } from "./review.ts";
import type { AdmissionReview } from "./review.ts";
import type { AdmissionInput, Decision, Phase } from "./rule.ts";

/**
 * Judges one request in one phase; `(input, phase) => evaluate(input, config.policy, phase)` in the server, which
 * may first look up what the review does not carry (the namespace's labels).
 */
export type Evaluator = (input: AdmissionInput, phase: Phase) => Decision | Promise<Decision>;

export type AdmissionAppOptions = {
  log: Logger;
  registry: Registry;
  evaluate: Evaluator;
  /** Largest review body in bytes, read per request so a config reload applies. */
  bodyLimit: () => number;
  /** The clock deployment windows are judged by. */
  now?: () => Date;
};

/** The outcome a request is counted under in `fluxgate_admission_requests_total`. */
export type AdmissionOutcome = "allowed" | "denied" | "warned" | "exempt" | "patched" | "unchanged" | "invalid" | "error";

/** Margin kept before kube-apiserver's `?timeout=`: an answer after it is thrown away. */
const TIMEOUT_MARGIN_MS = 250;
const FLUX_KINDS = new Set<string>(FLUX_KIND_NAMES);

/**
 * The Elysia app of the admission listener.
 * @example admissionApp({ log, registry, evaluate: (input, phase) => evaluate(input, config.policy, phase), bodyLimit: () => config.http.bodyLimit })
 */
export function admissionApp(options: AdmissionAppOptions) {
  const { log, evaluate } = options;
  const now = options.now ?? (() => new Date());
  const requests = new Counter({
    name: "fluxgate_admission_requests_total",
    help: "AdmissionReview requests by webhook (validate, mutate), object kind, operation and decision.",
    labelNames: ["webhook", "kind", "operation", "decision"] as const,
    registers: [options.registry],
  });
  const violations = new Counter({
    name: "fluxgate_admission_violations_total",
    help: "Policy violations found in admitted or denied requests (dry runs excluded), by rule and mode (enforce, audit).",
    labelNames: ["rule", "mode"] as const,
    registers: [options.registry],
  });
  const exemptions = new Counter({
    name: "fluxgate_admission_exemptions_total",
    help: "Requests let through without evaluating the rules (dry runs excluded), by why (user, namespace, delete …).",
    labelNames: ["kind"] as const,
    registers: [options.registry],
  });
  const duration = new Histogram({
    name: "fluxgate_admission_duration_seconds",
    help: "Time to answer an AdmissionReview, from the first byte read to the answer, by webhook.",
    labelNames: ["webhook"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [options.registry],
  });

  const kindLabel = (kind: string) => (FLUX_KINDS.has(kind) ? kind : "other");

  /** Reads the body, giving up shortly before the apiserver's own timeout. */
  const readReview = async (request: Request): Promise<AdmissionReview> => {
    const timeout = timeoutParameter(request.url);
    const ms = timeout === undefined ? undefined : /^\d{1,2}s$/.test(timeout) ? Number(timeout.slice(0, -1)) * 1000 : parseDuration(timeout);
    const limit = options.bodyLimit();
    const length = request.headers.get("content-length");
    let reading: Promise<Uint8Array | string>;
    if (length !== null && /^\d{1,15}$/.test(length)) {
      // kube-apiserver always sends Content-Length. The runtime reads exactly that many bytes, and text() is the
      // runtimes' fast path (on Node, srvx reads the socket directly instead of through a web stream).
      if (Number(length) > limit) throw new RequestError(413, "RequestEntityTooLarge", `request body is ${length} bytes; the limit is ${limit} bytes`);
      reading = request.text();
    } else reading = readBody(request, limit);
    if (ms === undefined || ms <= 0) return parseReview(await reading);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RequestError(503, "Timeout", `the AdmissionReview did not arrive within kube-apiserver's timeout=${timeout}`, { headers: { "retry-after": "1" } })),
        Math.max(ms - TIMEOUT_MARGIN_MS, 1),
      );
    });
    try {
      return parseReview(await Promise.race([reading, late]));
    } finally {
      clearTimeout(timer);
      reading.catch(() => {});
    }
  };

  const handle = async (request: Request, phase: Phase): Promise<Response> => {
    const started = performance.now();
    const requestId = requestIdOf(request);
    let review: AdmissionReview;
    try {
      review = await readReview(request);
    } catch (e) {
      requests.inc({ webhook: phase, kind: "", operation: "", decision: "invalid" });
      duration.observe({ webhook: phase }, (performance.now() - started) / 1000);
      if (e instanceof RequestError && e.status === 400) log.info({ requestId, webhook: phase, reason: e.message }, "malformed AdmissionReview");
      throw e;
    }
    const r = review.request;
    const count = (decision: AdmissionOutcome) => {
      requests.inc({ webhook: phase, kind: kindLabel(r.kind.kind), operation: r.operation, decision });
      duration.observe({ webhook: phase }, (performance.now() - started) / 1000);
    };
    // Never judged: deleting (Flux must always be able to finalize and delete), CONNECT, and subresources (status
    // writes of the controllers). A patch on DELETE would fail the request whatever the failurePolicy.
    const skip = r.operation === "DELETE" ? "delete" : r.operation === "CONNECT" ? "connect" : r.subResource !== undefined ? "subresource" : undefined;
    if (skip !== undefined) {
      if (!r.dryRun) exemptions.inc({ kind: skip });
      count("exempt");
      return jsonResponse(allowedResponse(review, { decision: "exempt", exemption: `${skip}: not judged by fluxgate` }));
    }
    let decision: Decision;
    try {
      decision = await evaluate(toAdmissionInput(r, now()), phase);
    } catch (e) {
      // A bug, not a verdict: answer 500 (the error mapping logs the stack) so the webhook's failurePolicy decides.
      count("error");
      throw e;
    }
    const answer = reviewResponse(review, decision, phase);
    const res = answer.response;
    const outcome: AdmissionOutcome =
      decision.exempt !== undefined ? "exempt" : phase === "mutate" ? (res.patch !== undefined ? "patched" : "unchanged") : !res.allowed ? "denied" : decision.warnings.length > 0 ? "warned" : "allowed";
    count(outcome);
    // Kubernetes' own dry runs (every Flux apply starts with one) would double every count.
    if (!r.dryRun) {
      if (decision.exempt !== undefined) exemptions.inc({ kind: decision.exempt.kind });
      if (phase === "validate") {
        for (const v of decision.denials) violations.inc({ rule: v.rule, mode: "enforce" });
        for (const v of decision.warnings) violations.inc({ rule: v.rule, mode: "audit" });
      }
    }
    if (outcome === "denied") {
      // The object itself is never logged: it may carry secrets (HelmRelease values, Secret references).
      log.info(
        {
          requestId,
          uid: r.uid,
          object: describeObject(r),
          operation: r.operation,
          user: r.userInfo.username,
          tenant: decision.tenant,
          rules: [...new Set(decision.denials.map((v) => v.rule))],
          dryRun: r.dryRun,
          message: res.status?.message,
        },
        "admission denied",
      );
    }
    return jsonResponse(answer);
  };

  return baseApp("admission", log)
    .post("/validate", ({ request }) => handle(request, "validate"), { parse: "none" })
    .post("/mutate", ({ request }) => handle(request, "mutate"), { parse: "none" });
}

/** `?timeout=10s` of kube-apiserver's request line, without parsing the whole URL on every review. */
function timeoutParameter(url: string): string | undefined {
  const q = url.indexOf("?");
  if (q < 0) return undefined;
  for (const pair of url.slice(q + 1).split("&")) if (pair.startsWith("timeout=")) return pair.slice("timeout=".length); // Go durations need no decoding
  return undefined;
}

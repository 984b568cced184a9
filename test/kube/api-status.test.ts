import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { failureFromResponse, parseRetryAfter, reasonForStatus } from "../../src/kube/api-status.ts";

const NOW = Date.parse("2026-11-25T08:00:00Z");
const status = (body: object) => JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", ...body });

describe("reading failed API responses", () => {
  it("takes reason, message and details from a Status body", () => {
    const body = status({
      message: 'kustomizations.kustomize.toolkit.fluxcd.io "apps" not found',
      reason: "NotFound",
      details: { name: "apps", group: "kustomize.toolkit.fluxcd.io", kind: "kustomizations" },
      code: 404,
    });
    assert.deepEqual(failureFromResponse({ status: 404, headers: {}, body }, NOW), {
      status: 404,
      reason: "NotFound",
      message: 'kustomizations.kustomize.toolkit.fluxcd.io "apps" not found',
      details: { name: "apps", group: "kustomize.toolkit.fluxcd.io", kind: "kustomizations" },
    });
  });

  it("reads the wait of a 429 Status body from details.retryAfterSeconds when no header came", () => {
    const body = status({ message: "too many requests", reason: "TooManyRequests", details: { retryAfterSeconds: 3 }, code: 429 });
    const failure = failureFromResponse({ status: 429, headers: {}, body }, NOW);
    assert.deepEqual([failure.reason, failure.retryAfterSeconds], ["TooManyRequests", 3]);
  });

  it("reads the plain-text rejection of API Priority and Fairness with its Retry-After header", () => {
    const failure = failureFromResponse({ status: 429, headers: { "retry-after": "1", "content-type": "text/plain" }, body: "Too many requests, please try again later.\n" }, NOW);
    assert.deepEqual(failure, { status: 429, reason: "TooManyRequests", message: "Too many requests, please try again later.", retryAfterSeconds: 1 });
  });

  it("prefers the Retry-After header over details.retryAfterSeconds", () => {
    const body = status({ message: "slow down", reason: "TooManyRequests", details: { retryAfterSeconds: 9 }, code: 429 });
    assert.equal(failureFromResponse({ status: 429, headers: { "retry-after": "2" }, body }, NOW).retryAfterSeconds, 2);
  });

  it("derives the reason from the status for bodies that are not a Status (a proxy's HTML), shortening long text", () => {
    const html = `<html><body>${"bad gateway ".repeat(40)}</body></html>`;
    const failure = failureFromResponse({ status: 502, headers: {}, body: html }, NOW);
    assert.equal(failure.reason, "InternalError");
    assert.equal(failure.message, `${html.slice(0, 300)}…`);
    assert.deepEqual(failureFromResponse({ status: 503, headers: {}, body: "" }, NOW), { status: 503, reason: "ServiceUnavailable", message: "HTTP 503 with an empty body" });
  });

  it("names the reasons kube-apiserver uses, and HTTPnnn for others", () => {
    assert.deepEqual([400, 401, 403, 404, 409, 410, 415, 422, 429, 500, 503, 504, 418, 507].map(reasonForStatus), [
      "BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "Expired", "UnsupportedMediaType", "Invalid",
      "TooManyRequests", "InternalError", "ServiceUnavailable", "Timeout", "HTTP418", "InternalError",
    ]);
  });

  it("parses Retry-After as seconds or as an HTTP date, and ignores anything else", () => {
    assert.equal(parseRetryAfter("7", NOW), 7);
    assert.equal(parseRetryAfter(" 0 ", NOW), 0);
    assert.equal(parseRetryAfter("Wed, 25 Nov 2026 08:00:05 GMT", NOW), 5);
    assert.equal(parseRetryAfter("Wed, 25 Nov 2026 07:59:00 GMT", NOW), 0);
    assert.equal(parseRetryAfter("-3", NOW), undefined);
    assert.equal(parseRetryAfter("soon", NOW), undefined);
    assert.equal(parseRetryAfter(undefined, NOW), undefined);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generic } from "../../../src/webhooks/providers/generic.ts";
import { delivery } from "../../support/webhook-fixtures.ts";

describe("generic provider (Flux generic)", () => {
  it("accepts every delivery: Flux's generic type checks nothing, the URL is the secret", () => {
    assert.deepEqual(generic.authenticate(delivery({}, ""), { token: "s3cr3t" }, new Date()), { ok: true });
    assert.deepEqual(generic.fluxTypes, ["generic"]);
  });

  it("classifies any body, JSON or not, as one generic change: every resource of the receiver", () => {
    const expected = { type: "changes", eventType: "generic", changes: [{ kind: "generic", deleted: false }] };
    assert.deepEqual(generic.classify(delivery({ "content-type": "application/json" }, '{"ref":"refs/heads/main"}')), expected);
    assert.deepEqual(generic.classify(delivery({ "content-type": "text/plain" }, "not json {")), expected);
    assert.deepEqual(generic.classify(delivery({}, new Uint8Array([0xff, 0x00]))), expected);
  });
});

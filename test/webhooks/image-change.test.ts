import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { imageDraft, splitImageReference } from "../../src/webhooks/image-change.ts";

const DIGEST = "sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c";

describe("image references in registry payloads", () => {
  it("splits repository, tag and digest, keeping registry ports and lowercasing the repository", () => {
    assert.deepEqual(splitImageReference(`Harbor.Dev/Library/App:1.2.3@${DIGEST}`), { repository: "harbor.dev/library/app", tag: "1.2.3", digest: DIGEST });
    assert.deepEqual(splitImageReference("localhost:5000/app"), { repository: "localhost:5000/app" });
    assert.deepEqual(splitImageReference("oci://registry.example.com/charts/app:0.4.0"), { repository: "registry.example.com/charts/app", tag: "0.4.0" });
    assert.equal(splitImageReference(":1.0"), undefined);
  });

  it("builds a change draft whose own tag and digest win over the ones given beside it", () => {
    assert.deepEqual(imageDraft("ghcr.io/org/app:2.0", "data.image", { tag: "1.0", digest: DIGEST, kind: "helm", deleted: true }), {
      kind: "helm",
      image: { repository: "ghcr.io/org/app", key: "ghcr.io/org/app", tag: "2.0", digest: DIGEST },
      deleted: true,
    });
  });

  it("answers 400 naming the field for something that is not an image reference or a digest", () => {
    assert.throws(() => imageDraft("", "resource_url"), { name: "RequestError", status: 400, message: 'resource_url is not an image reference: ""' });
    assert.throws(() => imageDraft("ghcr.io/org/app@md5:00", "resource_url"), { status: 400, message: 'resource_url: "md5:00" is not a digest (algorithm:hex)' });
  });
});

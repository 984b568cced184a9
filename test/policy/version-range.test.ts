import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { versionRange, withinRange } from "../../src/policy/version-range.ts";

describe("versionRange", () => {
  it("reads the constraints Flux and Helm accept", () => {
    assert.deepEqual(
      ["6.x", ">= 1.2, < 3.0.0", "~2.9", "v2.9.4", ">= 1.8.0-rc.0", "*", "1.2.3 || 2.x"].map(versionRange),
      [">=6.0.0-0 <7.0.0-0", ">=1.2.0-0 <3.0.0", ">=2.9.0-0 <2.10.0-0", "2.9.4", ">=1.8.0-rc.0", "*", "1.2.3||>=2.0.0-0 <3.0.0-0"],
    );
  });

  it("rejects text that is not a constraint, and the empty one", () => {
    assert.deepEqual(["latest", "", "  ", "main"].map(versionRange), [undefined, undefined, undefined, undefined]);
  });
});

describe("withinRange", () => {
  it("holds when every version the constraint can select lies in the allowed range, prereleases included", () => {
    assert.deepEqual(
      [
        withinRange("6.5.x", "6.x"),
        withinRange("6.5.0", "6.x"),
        withinRange(">=1.0.0", "6.x"),
        withinRange("*", ">=1.0.0"),
        withinRange(">= 1.8.0-rc.0", ">=1.8.0-rc.0"),
        withinRange(">=1.0.0-alpha", ">=1.0.0"),
        withinRange("2.9.x", "2.x"),
        withinRange("latest", "*"),
      ],
      [true, true, false, false, true, false, true, false],
    );
  });
});

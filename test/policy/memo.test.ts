import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { memo } from "../../src/memo.ts";
import { globMatcher } from "../../src/policy/glob.ts";
import { withinRange } from "../../src/policy/version-range.ts";

describe("memo", () => {
  it("computes once per key, undefined results included, and empties itself at its bound", () => {
    const calls: string[] = [];
    const f = memo((k: string) => {
      calls.push(k);
      return k === "none" ? undefined : k.length;
    }, 3);
    assert.deepEqual([f("a"), f("bb"), f("a"), f("none"), f("none")], [1, 2, 1, undefined, undefined]);
    assert.deepEqual(calls, ["a", "bb", "none"]);
    f("cccc"); // the fourth key: the cache starts over
    f("a");
    assert.deepEqual(calls, ["a", "bb", "none", "cccc", "a"]);
  });

  it("keeps cached glob and range answers equal to the uncached ones", () => {
    assert.equal(globMatcher("apps-*")("apps-web"), true);
    assert.equal(globMatcher("apps-*")("other"), false);
    for (let i = 0; i < 2; i++) {
      assert.equal(withinRange("6.5.x", "6.x"), true);
      assert.equal(withinRange(">=1.0.0", "6.x"), false);
      // A constraint holding the characters a naive key would join on is still compared as itself.
      assert.equal(withinRange('6.x","*', "6.x"), false);
      assert.equal(withinRange("6.x\u0000*", "6.x"), false);
    }
  });
});

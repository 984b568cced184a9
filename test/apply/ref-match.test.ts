import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chartVersionMatches, gitRefMatches, ociRefMatches, satisfiesConstraint, tagScanned, tagVersion } from "../../src/apply/ref-match.ts";

describe("version constraints as Flux writes them", () => {
  it("reads tags leniently, as Masterminds' NewVersion does", () => {
    assert.deepEqual(["v1.2.3", "1.2.3-rc.1", "v1.2", "2", "=1.0.0", "latest", "1.2.3.4"].map((t) => tagVersion(t)?.version), ["1.2.3", "1.2.3-rc.1", "1.2.0", "2.0.0", "1.0.0", undefined, undefined]);
  });

  it("reads commas as AND, `||` as OR, and rewrites `=<`, `~>` and `!=`", () => {
    const cases: Array<[string, string, boolean]> = [
      ["1.4.0", ">= 1.2, < 2.0", true],
      ["2.0.0", ">= 1.2, < 2.0", false],
      ["3.1.0", "1.x || >=3", true],
      ["1.4.0", "=< 1.4.0", true],
      ["1.4.9", "~> 1.4.0", true],
      ["1.5.0", "~> 1.4.0", false],
      ["1.4.0", ">=1.0.0, !=1.4.0", false],
      ["1.4.1", ">=1.0.0, !=1.4.0", true],
      ["6.5.0", "6.x", true],
      ["7.0.0-rc.1", ">=6.0.0", false],
      ["1.0.0", "not a range", false],
      ["main", "*", false],
    ];
    assert.deepEqual(cases.map(([tag, c]) => satisfiesConstraint(tag, c)), cases.map(([, , want]) => want));
  });
});

describe("ref matching", () => {
  const push = (ref: string) => ({ ref, branch: ref.startsWith("refs/heads/") ? ref.slice(11) : undefined, tag: ref.startsWith("refs/tags/") ? ref.slice(10) : undefined });

  it("follows Flux's precedence for GitRepository refs: commit, name, semver, tag, branch", () => {
    assert.equal(gitRefMatches({ commit: "abc1234", name: "refs/heads/main" }, push("refs/heads/main")), false);
    assert.equal(gitRefMatches({ name: "refs/heads/main", branch: "dev" }, push("refs/heads/main")), true);
    assert.equal(gitRefMatches({ semver: "1.x", tag: "v9" }, push("refs/tags/v1.3.0")), true);
    assert.equal(gitRefMatches({ tag: "v9", branch: "main" }, push("refs/heads/main")), false);
    assert.equal(gitRefMatches({}, push("refs/heads/master")), true);
  });

  it("follows OCIRepository precedence: digest, semver, tag; latest by default; a tagless push moves no tag", () => {
    const digest = "sha256:" + "a".repeat(64);
    assert.equal(ociRefMatches({ digest, tag: "1.0.0" }, { tag: "1.0.0" }), false);
    assert.equal(ociRefMatches({ digest }, { digest }), true);
    assert.equal(ociRefMatches({ semver: "1.x", tag: "2.0.0" }, { tag: "2.0.0" }), false);
    assert.equal(ociRefMatches({}, { tag: "latest" }), true);
    assert.equal(ociRefMatches({ tag: "latest" }, { digest }), false);
  });

  it("takes `*` for a HelmChart without version, and scans every tag not excluded", () => {
    assert.equal(chartVersionMatches("", "1.0.0"), true);
    assert.equal(chartVersionMatches(">=2", "1.0.0"), false);
    assert.equal(chartVersionMatches("*", undefined), false);
    assert.equal(tagScanned(["^.*\\.sig$", "("], "v1.sig"), false);
    assert.equal(tagScanned(["^.*\\.sig$", "("], "v1"), true);
  });
});

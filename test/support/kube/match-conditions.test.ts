import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CelEvalError, CelSyntaxError, compileCel } from "./match-conditions.ts";

const vars = {
  request: { userInfo: { username: "system:serviceaccount:flux-system:kustomize-controller", groups: ["system:serviceaccounts"] }, namespace: "dev-team", operation: "UPDATE" },
  object: { metadata: { name: "apps", labels: { team: "a" } } },
  oldObject: null,
};

const run = (src: string): unknown => compileCel(src)(vars);

describe("compileCel (matchConditions subset)", () => {
  it("evaluates the string methods, negation and boolean operators admission configurations use", () => {
    assert.equal(run('request.userInfo.username.startsWith("system:serviceaccount:flux-system:")'), true);
    assert.equal(run('!request.userInfo.username.startsWith("system:serviceaccount:flux-system:")'), false);
    assert.equal(run('request.namespace == "dev-team" && request.operation != "DELETE"'), true);
    assert.equal(run("request.userInfo.username.endsWith('-controller') || false"), true);
    assert.equal(run('request.userInfo.username.contains("kube-system")'), false);
  });

  it("supports in over lists and map keys, has(), size() and index access", () => {
    assert.equal(run('request.namespace in ["dev-team", "prod"]'), true);
    assert.equal(run('"team" in object.metadata.labels'), true);
    assert.equal(run("has(object.metadata.labels.owner)"), false);
    assert.equal(run('has(object.metadata.labels) && object.metadata.labels["team"] == "a"'), true);
    assert.equal(run("size(request.userInfo.groups) == 1 && request.userInfo.groups[0].startsWith('system:')"), true);
    assert.equal(run("oldObject == null"), true);
  });

  it("reports a missing key as an evaluation error, as CEL's 'no such key'", () => {
    assert.throws(() => run('object.metadata.labels.owner == "x"'), new CelEvalError("no such key: owner"));
  });

  it("refuses expressions outside the subset when compiling", () => {
    assert.throws(() => compileCel("request.userInfo.groups.exists(g, g == 'x')"), CelSyntaxError);
    assert.throws(() => compileCel("1 + 2 == 3"), CelSyntaxError);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RULES } from "../../../src/admission/rules/index.ts";
import { RULE_NAMES } from "../../../src/policy/tenancy.ts";

describe("the rule registry", () => {
  it("holds one rule for each name a policy can set a mode for, in the same order", () => {
    assert.deepEqual(
      RULES.map((r) => r.name),
      [...RULE_NAMES],
    );
  });

  it("has exactly one mutating rule: service-account", () => {
    assert.deepEqual(RULES.filter((r) => r.mutate !== undefined).map((r) => r.name), ["service-account"]);
  });
});

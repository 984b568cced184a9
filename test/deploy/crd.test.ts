/**
 * The FluxgatePolicy CRD: the committed file is what deploy/generate-crd.ts makes of the policy schema, its schema
 * is structural as Kubernetes requires, and the API emulator serves it, accepting a valid policy and refusing
 * invalid ones with the API server's messages.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { load } from "js-yaml";
import { z } from "zod";
import { CRD_FILE, fluxgatePolicyCrd, fluxgatePolicyCrdYaml, structural } from "../../deploy/generate-crd.ts";
import { policySchema } from "../../src/policy/tenancy.ts";
import { startKubeEmulator } from "../support/kube/emulator.ts";
import type { KubeEmulator } from "../support/kube/emulator.ts";

type Node = Record<string, unknown>;

/** Every way `node` breaks the structural-schema rules of apiextensions (k8s.io/apiextensions-apiserver). */
function structuralProblems(node: Node, path: string): string[] {
  const problems: string[] = [];
  const typed = typeof node["type"] === "string" || node["x-kubernetes-preserve-unknown-fields"] === true || node["x-kubernetes-int-or-string"] === true;
  if (!typed) problems.push(`${path}: no type`);
  for (const key of ["$ref", "$schema", "$defs", "definitions", "propertyNames", "const", "default"]) if (key in node) problems.push(`${path}: ${key}`);
  if (node["additionalProperties"] === false) problems.push(`${path}: additionalProperties: false`);
  if (node["properties"] !== undefined && node["additionalProperties"] !== undefined) problems.push(`${path}: properties and additionalProperties`);
  if (typeof node["exclusiveMinimum"] === "number" || typeof node["exclusiveMaximum"] === "number") problems.push(`${path}: numeric exclusive bound`);
  for (const [k, v] of Object.entries((node["properties"] ?? {}) as Record<string, Node>)) problems.push(...structuralProblems(v, `${path}.${k}`));
  if (node["items"] !== undefined) problems.push(...structuralProblems(node["items"] as Node, `${path}[]`));
  if (typeof node["additionalProperties"] === "object") problems.push(...structuralProblems(node["additionalProperties"] as Node, `${path}.*`));
  if (node["type"] === "array" && node["items"] === undefined) problems.push(`${path}: array without items`);
  return problems;
}

const policy = (name: string, spec: unknown) => ({ apiVersion: "fluxgate.io/v1alpha1", kind: "FluxgatePolicy", metadata: { name }, spec });

describe("the FluxgatePolicy CRD", () => {
  it("is committed exactly as deploy/generate-crd.ts generates it from the policy schema", () => {
    assert.equal(readFileSync(CRD_FILE, "utf8"), fluxgatePolicyCrdYaml(), "run: node deploy/generate-crd.ts");
    assert.deepEqual(load(readFileSync(CRD_FILE, "utf8")), fluxgatePolicyCrd());
  });

  it("has a structural schema: typed everywhere, no $ref, defaults or additionalProperties: false", () => {
    const crd = fluxgatePolicyCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: Node } }> } };
    assert.deepEqual(structuralProblems(crd.spec.versions[0]!.schema.openAPIV3Schema, ""), []);
  });

  it("names every key of the policy schema in spec, so none is pruned", () => {
    const crd = fluxgatePolicyCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: { properties: Node } } } } }> } };
    assert.deepEqual(Object.keys(crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties), Object.keys(policySchema.shape));
  });

  it("translates what JSON Schema 2020-12 says differently from OpenAPI 3.0", () => {
    assert.deepEqual(structural(z.toJSONSchema(z.number().gt(0))), { type: "number", minimum: 0, exclusiveMinimum: true });
    assert.deepEqual(structural(z.toJSONSchema(z.literal("x"))), { type: "string", enum: ["x"] });
    assert.deepEqual(structural(z.toJSONSchema(z.string().nullable())), { type: "string", nullable: true });
    assert.deepEqual(structural(z.toJSONSchema(z.union([z.string(), z.array(z.string())]))), { "x-kubernetes-preserve-unknown-fields": true });
    assert.deepEqual(structural(z.toJSONSchema(z.partialRecord(z.enum(["a", "b"]), z.boolean()))), { type: "object", properties: { a: { type: "boolean" }, b: { type: "boolean" } } });
    assert.deepEqual(structural(z.toJSONSchema(z.record(z.string(), z.unknown()))), { type: "object", additionalProperties: { "x-kubernetes-preserve-unknown-fields": true } });
  });

  it("refuses what Kubernetes cannot take, naming where", () => {
    assert.throws(() => structural({ type: "string", pattern: "^(?!kube-).*$" }, "spec.name"), { message: 'spec.name: pattern "^(?!kube-).*$" is not valid RE2 (no lookaround or back-references)' });
    assert.throws(() => structural({ $ref: "#/$defs/x" }, "spec.x"), { message: "spec.x: $ref/$defs cannot be used in a CRD schema; inline the schema (zod: do not register it with an id)" });
  });
});

describe("FluxgatePolicy on the API emulator", () => {
  let kube: KubeEmulator;
  const post = async (body: unknown, query = "") => {
    const r = await fetch(`${kube.url}/apis/fluxgate.io/v1alpha1/fluxgatepolicies${query}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as { message?: string; spec?: unknown } };
  };

  before(async () => {
    kube = await startKubeEmulator({ crds: [CRD_FILE] });
  });
  after(async () => {
    await kube?.stop();
  });

  it("stores a valid policy as written, without defaults filled in", async () => {
    const spec = {
      rules: { "source-url": "audit" },
      tenants: [{ name: "dev-team", namespaces: ["apps"], serviceAccountName: "dev-team", sources: { urls: ["github.com/org/*"] } }],
      windows: [{ name: "business-hours", kind: "allow", schedule: "0 9 * * 1-5", duration: "8h", timeZone: "Europe/Berlin" }],
    };
    const r = await post(policy("dev-team", spec));
    assert.equal(r.status, 201);
    assert.deepEqual(r.body.spec, spec);
  });

  it("refuses a policy its schema rules out, with every problem", async () => {
    const r = await post(policy("bad", { rules: { "source-url": "warn" }, tenants: [{ name: "Dev_Team", namespaces: ["apps"] }] }));
    assert.equal(r.status, 422);
    assert.equal(
      r.body.message,
      'FluxgatePolicy.fluxgate.io "bad" is invalid: [spec.rules.source-url: Unsupported value: "warn": supported values: "enforce", "audit", spec.tenants[0].serviceAccountName: Required value, spec.tenants[0].name: Invalid value: "Dev_Team": spec.tenants[0].name in body should match \'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$\']',
    );
  });

  it("refuses an unknown key under strict field validation (kubectl's default)", async () => {
    const r = await post(policy("typo", { tenant: [] }), "?fieldValidation=Strict");
    assert.equal(r.status, 400);
    assert.equal(r.body.message, 'FluxgatePolicy in version "v1alpha1" cannot be handled as a FluxgatePolicy: strict decoding error: unknown field "spec.tenant"');
  });
});

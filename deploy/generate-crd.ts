/**
 * Generates `deploy/crds/fluxgate.io_fluxgatepolicies.yaml`, the `FluxgatePolicy` CustomResourceDefinition, from the
 * zod schema of the configuration's `policy:` key (`policySchema`, src/policy/tenancy.ts), so the file and the custom
 * resource never disagree. `node deploy/generate-crd.ts` writes it; `--check` exits 1 when the committed file is stale.
 * test/deploy/crd.test.ts keeps the committed file equal to what this prints.
 *
 * Kubernetes wants a structural OpenAPI v3 schema: every node typed, no `$ref`, `properties` or `additionalProperties`
 * but not both, no `additionalProperties: false` (unknown fields are pruned, or refused under `fieldValidation=Strict`)
 * and OpenAPI 3.0 keywords. Defaults are left out on purpose: the gate fills them in when it parses a spec, so the
 * stored object keeps what its author wrote, which is what merging with the configuration file goes by
 * (src/policy/cluster-policies.ts). Rules a JSON schema cannot say (a tenant defined twice, a namespace owned by two
 * tenants, a semver range that does not parse) are checked by the gate and reported in `status.conditions`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dump } from "js-yaml";
import { z } from "zod";
import { FLUXGATE_POLICY } from "../src/policy/cluster-policies.ts";
import { policySchema } from "../src/policy/tenancy.ts";

/** Where the generated CRD is committed. */
export const CRD_FILE = join(import.meta.dirname, "crds", "fluxgate.io_fluxgatepolicies.yaml");


type Schema = { [key: string]: unknown };

const isSchema = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v);

/** Keywords of JSON Schema 2020-12 that have no OpenAPI 3.0 / Kubernetes meaning, or that we leave out on purpose. */
const DROPPED = new Set(["$schema", "$id", "id", "title", "default", "examples", "propertyNames", "readOnly", "writeOnly", "deprecated"]);

/** Regular expression syntax RE2 (Kubernetes' `pattern` engine) does not have. */
const NOT_RE2 = /\(\?[=!<]|\\[1-9]/;

/**
 * Turns one JSON Schema node (zod 4's `toJSONSchema`, draft 2020-12, input side) into a structural OpenAPI v3 node.
 * Throws, naming the path, on what Kubernetes cannot take and we cannot translate.
 */
export function structural(node: unknown, path = "spec"): Schema {
  if (!isSchema(node)) throw new Error(`${path}: expected a schema object, got ${JSON.stringify(node)}`);
  if ("$ref" in node || "$defs" in node) throw new Error(`${path}: $ref/$defs cannot be used in a CRD schema; inline the schema (zod: do not register it with an id)`);

  const union = (node.anyOf ?? node.oneOf) as unknown[] | undefined;
  if (Array.isArray(union)) {
    const branches = union.filter(isSchema);
    const nonNull = branches.filter((b) => b.type !== "null");
    if (nonNull.length === 1 && branches.length === 2) return { ...structural({ ...rest(node, ["anyOf", "oneOf"]), ...nonNull[0] }, path), nullable: true };
    const types = new Set(nonNull.map((b) => b.type));
    if (types.size === 1 && types.has("string") && nonNull.every((b) => Array.isArray(b.enum) || "const" in b)) {
      return structural({ type: "string", enum: nonNull.flatMap((b) => (Array.isArray(b.enum) ? b.enum : [b.const])) }, path);
    }
    if (types.size === 2 && types.has("string") && types.has("integer")) return { "x-kubernetes-int-or-string": true };
    // No structural form for "a string or a list": keep the value as written; the gate's zod parse judges it.
    return { "x-kubernetes-preserve-unknown-fields": true };
  }

  if (Array.isArray(node.type)) {
    // `["string", "null"]` (zod's nullable scalars) is OpenAPI's `nullable`; other type lists have no structural form.
    const types = node.type.filter((t) => t !== "null");
    if (types.length !== 1) return { "x-kubernetes-preserve-unknown-fields": true };
    return { ...structural({ ...node, type: types[0] }, path), ...(types.length < node.type.length ? { nullable: true } : {}) };
  }

  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROPPED.has(key)) continue;
    switch (key) {
      case "const":
        out.enum = [value];
        break;
      case "exclusiveMinimum":
      case "exclusiveMaximum":
        // 2020-12 says the bound itself; OpenAPI 3.0 says minimum/maximum plus a boolean.
        if (typeof value === "number") {
          out[key === "exclusiveMinimum" ? "minimum" : "maximum"] = value;
          out[key] = true;
        } else out[key] = value;
        break;
      case "pattern":
        if (typeof value !== "string" || NOT_RE2.test(value)) throw new Error(`${path}: pattern ${JSON.stringify(value)} is not valid RE2 (no lookaround or back-references)`);
        out.pattern = value;
        break;
      case "properties":
        if (!isSchema(value)) throw new Error(`${path}: properties must be an object`);
        out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, structural(v, `${path}.${k}`)]));
        break;
      case "items":
        out.items = isSchema(value) && Object.keys(value).length > 0 ? structural(value, `${path}[]`) : { "x-kubernetes-preserve-unknown-fields": true };
        break;
      case "additionalProperties":
        // `false` is the default for structural schemas (pruning) and forbidden as a value.
        if (value === false) break;
        if (value === true) {
          out["x-kubernetes-preserve-unknown-fields"] = true;
          break;
        }
        out.additionalProperties = structural(value, `${path}.*`);
        break;
      default:
        out[key] = value;
    }
  }

  // A record with enumerated keys (`z.partialRecord(z.enum(...), v)`): name each key, so unknown keys are pruned.
  const keys = isSchema(node.propertyNames) ? node.propertyNames.enum : undefined;
  if (Array.isArray(keys) && isSchema(out.additionalProperties)) {
    const value = out.additionalProperties;
    delete out.additionalProperties;
    out.properties = Object.fromEntries(keys.map((k) => [String(k), value]));
  }
  if (out.type === undefined && out["x-kubernetes-preserve-unknown-fields"] !== true && out["x-kubernetes-int-or-string"] !== true) {
    if (Object.keys(out).length === 0) return { "x-kubernetes-preserve-unknown-fields": true };
    throw new Error(`${path}: a structural schema needs a type here, got ${JSON.stringify(node)}`);
  }
  if (out.type === "object" && out.properties === undefined && out.additionalProperties === undefined) out["x-kubernetes-preserve-unknown-fields"] = true;
  return out;
}

function rest(node: Schema, drop: string[]): Schema {
  return Object.fromEntries(Object.entries(node).filter(([k]) => !drop.includes(k)));
}

const condition: Schema = {
  type: "object",
  description: "metav1.Condition: the latest observation of one aspect of the policy's state.",
  required: ["type", "status", "lastTransitionTime", "reason", "message"],
  properties: {
    type: { type: "string", maxLength: 316, pattern: "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$" },
    status: { type: "string", enum: ["True", "False", "Unknown"] },
    observedGeneration: { type: "integer", format: "int64", minimum: 0 },
    lastTransitionTime: { type: "string", format: "date-time" },
    reason: { type: "string", minLength: 1, maxLength: 1024, pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$" },
    message: { type: "string", maxLength: 32768 },
  },
};

/** The CRD as an object. */
export function fluxgatePolicyCrd(): Schema {
  const spec = structural(z.toJSONSchema(policySchema, { io: "input", unrepresentable: "throw" }));
  spec.description =
    "The multi-tenancy policy, as under policy: in Fluxgate's configuration file (deploy/fluxgate.example.yaml documents every key). " +
    "Tenants are added to the file's, exemption lists joined, rule modes set here override the file's; a policy that conflicts with the file or an older FluxgatePolicy is not applied (see status.conditions).";
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${FLUXGATE_POLICY.plural}.${FLUXGATE_POLICY.group}`, labels: { "app.kubernetes.io/name": "fluxgate", "app.kubernetes.io/part-of": "fluxgate" } },
    spec: {
      group: FLUXGATE_POLICY.group,
      names: { kind: FLUXGATE_POLICY.kind, listKind: `${FLUXGATE_POLICY.kind}List`, plural: FLUXGATE_POLICY.plural, singular: FLUXGATE_POLICY.kind.toLowerCase(), shortNames: ["fgp"], categories: ["fluxgate"] },
      scope: "Cluster",
      versions: [
        {
          name: FLUXGATE_POLICY.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: "Reason", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
            { name: "Message", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].message', priority: 1 },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: "FluxgatePolicy adds tenants, exemptions and rule modes to the admission gate's policy, cluster-wide.",
              required: ["spec"],
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec,
                status: {
                  type: "object",
                  properties: {
                    observedGeneration: { type: "integer", format: "int64" },
                    conditions: { type: "array", items: condition, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}

const HEADER = "# Generated by deploy/generate-crd.ts from policySchema (src/policy/tenancy.ts). Do not edit: run `node deploy/generate-crd.ts`.\n";

/** The file's text: a header and the CRD as YAML. */
export function fluxgatePolicyCrdYaml(): string {
  return `${HEADER}---\n${dump(fluxgatePolicyCrd(), { lineWidth: -1, noRefs: true })}`;
}

if (import.meta.main === true || process.argv[1] === import.meta.filename) {
  const text = fluxgatePolicyCrdYaml();
  if (process.argv.includes("--check")) {
    const current = readFileSync(CRD_FILE, "utf8");
    if (current !== text) {
      process.stderr.write(`${CRD_FILE} is out of date: run node deploy/generate-crd.ts\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(CRD_FILE, text);
    process.stdout.write(`wrote ${CRD_FILE}\n`);
  }
}

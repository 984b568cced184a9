/**
 * What every rule in this folder is: a name from the policy's rule list, a sentence saying what it holds, a pure
 * check returning violations and, for rules that can repair an object, a mutation returning JSONPatch operations.
 */
import type { KindFieldPaths } from "../../flux/field-paths.ts";
import type { RuleName, Tenant } from "../../policy/tenancy.ts";
import type { JsonPatchOperation, KubeObject, Violation } from "../rule.ts";

/** What a rule sees: the object, where its kind keeps each field, and the tenant whose policy applies. */
export type RuleContext = {
  readonly object: KubeObject;
  readonly paths: KindFieldPaths;
  readonly tenant: Tenant;
  /** The object's namespace. */
  readonly namespace: string;
  /** Whether a namespace is the tenant's own: the object's, one listed, or one its selector matches (labels known). */
  readonly ownsNamespace: (namespace: string) => boolean;
  /** The tenant's own namespaces for messages, each a phrase: `"apps"`, `namespaces labelled team=dev` (built on demand). */
  readonly ownNamespaces: () => readonly string[];
};

export type AdmissionRule = {
  readonly name: RuleName;
  /** The rule as one sentence, for documentation and `fluxgate check`. */
  readonly summary: string;
  /** Every way the object breaks the rule; empty when it keeps it. */
  readonly check: (ctx: RuleContext) => Violation[];
  /** Operations that make the object keep the rule; empty when it already does (so reinvocation changes nothing). */
  readonly mutate?: (ctx: RuleContext) => JsonPatchOperation[];
};

/** A value as it appears in messages: JSON, so strings are quoted and objects readable. */
export function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/**
 * Alternatives as an English phrase.
 * @example anyOf(['"a"', '"b"', '"c"']) // '"a", "b" or "c"'
 */
export function anyOf(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? "";
  return `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

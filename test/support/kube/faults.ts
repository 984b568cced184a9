/**
 * Fault injection: the next N requests matching a rule fail in a chosen way (429 in both of kube-apiserver's shapes,
 * 5xx, or a hang), so tests can check a client's retry and timeout behaviour.
 */

/** The request verbs a rule can match (kube-apiserver's RequestInfo verbs; `deletecollection` counts as delete). */
export type FaultVerb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete";

/** How a matched request fails. */
export type FaultResponse =
  | { status: 429; retryAfterSeconds?: number; plainText?: boolean }
  | { status: 500 | 503 | 504 }
  /** Waits this long, then handles the request normally (for client timeouts). */
  | { hangMs: number };

/** Which requests a rule matches (every given field must match) and how often it fires. */
export type FaultRule = {
  verb?: FaultVerb;
  /** Plural resource, e.g. `kustomizations`; a rule without it also matches discovery requests. */
  resource?: string;
  namespace?: string;
  name?: string;
  count: number;
  response: FaultResponse;
};

/** What a request looks like to fault matching. */
export type FaultTarget = { verb: string; resource?: string; namespace?: string; name?: string };

/** Pending fault rules; `emulator.faults`. */
export class Faults {
  readonly #rules: FaultRule[] = [];

  /** Makes the next `rule.count` matching requests fail with `rule.response`. */
  inject(rule: FaultRule): void {
    if (!Number.isInteger(rule.count) || rule.count < 1) throw new Error(`faults.inject: count must be a positive integer, got ${rule.count}`);
    this.#rules.push({ ...rule });
  }

  /** Drops every pending rule. */
  clear(): void {
    this.#rules.length = 0;
  }

  /** Rules with requests left to fail (copies). */
  pending(): FaultRule[] {
    return this.#rules.map((r) => ({ ...r }));
  }

  /** The response for this request if a rule matches it (using up one of its count), else undefined. */
  take(t: FaultTarget): FaultResponse | undefined {
    const verb = t.verb === "deletecollection" ? "delete" : t.verb;
    const i = this.#rules.findIndex(
      (r) =>
        (r.verb === undefined || r.verb === verb) &&
        (r.resource === undefined || r.resource === t.resource) &&
        (r.namespace === undefined || r.namespace === t.namespace) &&
        (r.name === undefined || r.name === t.name),
    );
    if (i === -1) return undefined;
    const rule = this.#rules[i]!;
    rule.count--;
    if (rule.count === 0) this.#rules.splice(i, 1);
    return rule.response;
  }
}

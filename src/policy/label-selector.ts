/** Kubernetes label selectors in policies (tenants' namespaces, windows' objects): one schema, one matcher's input. */
import { z } from "zod";

/**
 * A label selector (`matchLabels` and/or `matchExpressions`) that must not be empty: an empty selector matches
 * everything, which a policy never means. `emptyMessage` says what it would have matched.
 * @example labelSelectorSchema("an empty selector would match every namespace")
 */
export function labelSelectorSchema(emptyMessage: string) {
  return z
    .strictObject({
      matchLabels: z.record(z.string(), z.string()).default({}),
      matchExpressions: z
        .array(
          z.strictObject({
            key: z.string().min(1),
            operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
            values: z.array(z.string()).default([]),
          }),
        )
        .default([]),
    })
    .refine((s) => Object.keys(s.matchLabels).length + s.matchExpressions.length > 0, { message: emptyMessage });
}

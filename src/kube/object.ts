/**
 * Kubernetes objects as they come off the wire, parsed at the edge: metadata is checked, everything else passes
 * through for the caller's own schema (a Flux kind's spec, say).
 */
import { z } from "zod";

/** `metav1.ObjectMeta`, the fields Fluxgate uses; unknown fields (managedFields …) are kept. */
export const objectMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
});

/** Any object: `apiVersion`, `kind`, `metadata`, and whatever else it holds. */
export const kubeObjectSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: objectMetaSchema,
});

export type ObjectMeta = z.infer<typeof objectMetaSchema>;
export type KubeObject = z.infer<typeof kubeObjectSchema>;

/** A list response; items are parsed one by one so one odd item names itself in the error. */
export const kubeListSchema = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string(), continue: z.string().optional() }),
  items: z.array(z.unknown()),
});

/** Where an object lives: `namespace/name`, or `name` for cluster-scoped objects. The informer cache key. */
export function objectKey(namespace: string | undefined, name: string): string {
  return namespace === undefined || namespace === "" ? name : `${namespace}/${name}`;
}

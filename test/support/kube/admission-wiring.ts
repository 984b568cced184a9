/**
 * Plugs `dispatchAdmission` into an emulator: every write then goes through the Validating/Mutating
 * WebhookConfigurations stored in that emulator, read afresh on each write (kube-apiserver's informer lag is zero
 * here), with namespace labels from its stored Namespaces and served versions from its registry.
 */
import { dispatchAdmission } from "./admission-dispatch.ts";
import type { ServiceRef } from "./admission-dispatch.ts";
import type { KubeEmulator } from "./emulator.ts";

export type EnableAdmissionOptions = {
  /**
   * Where a webhook Service really listens: an https base URL for `<svc>.<ns>.svc` (TLS still checks that name);
   * undefined fails the call like an unknown host. Webhooks with `clientConfig.url` need nothing.
   * @example (ref) => (ref.name === "fluxgate" ? `https://127.0.0.1:${port}` : undefined)
   */
  resolveService?: (ref: ServiceRef) => string | undefined;
};

const ADMISSION_GROUP = "admissionregistration.k8s.io";

/**
 * Turns on webhook admission for `emulator` (replacing any handler set with `setAdmission`). Audit annotations are
 * dropped: the emulator keeps no audit log.
 * @example
 * enableAdmission(kube, { resolveService: () => `https://127.0.0.1:${webhook.port}` })
 */
export function enableAdmission(emulator: KubeEmulator, options: EnableAdmissionOptions = {}): void {
  emulator.setAdmission(async (attrs, ctx) => {
    const outcome = await dispatchAdmission(attrs, {
      validating: emulator.objects(ADMISSION_GROUP, "validatingwebhookconfigurations"),
      mutating: emulator.objects(ADMISSION_GROUP, "mutatingwebhookconfigurations"),
      namespaceLabels: (ns) => {
        const found = emulator.objects("", "namespaces").find((n) => (n["metadata"] as Record<string, unknown> | undefined)?.["name"] === ns);
        if (found === undefined) return undefined;
        return ((found["metadata"] as Record<string, unknown>)["labels"] as Record<string, string> | undefined) ?? {};
      },
      validate: (object) => ctx.validate(object),
      servedVersions: (group, resource) => emulator.servedVersions(group, resource),
      ...(options.resolveService === undefined ? {} : { resolveService: options.resolveService }),
    });
    return outcome.allowed
      ? { allowed: true, ...(outcome.object === undefined ? {} : { object: outcome.object }), warnings: outcome.warnings }
      : { allowed: false, status: outcome.status, warnings: outcome.warnings };
  });
}

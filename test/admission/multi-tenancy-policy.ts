/**
 * The intent of fluxcd/flux2-multi-tenancy as a Fluxgate policy: tenant `dev-team` owns `apps` (and any namespace
 * labelled `toolkit.fluxcd.io/tenant: dev-team`), reconciles as service account `dev-team`, fetches only from the
 * fluxcd GitHub organisation (the `verify-git-repositories` Kyverno patterns, verbatim) and may use the platform's
 * shared HelmRepositories in `flux-system`, which like the Kyverno policies is left alone.
 */
import { policySchema } from "../../src/policy/tenancy.ts";

export const multiTenancyPolicy = policySchema.parse({
  exemptions: { namespaces: ["flux-system"] },
  tenants: [
    {
      name: "dev-team",
      namespaces: ["apps"],
      namespaceSelector: { matchLabels: { "toolkit.fluxcd.io/tenant": "dev-team" } },
      serviceAccountName: "dev-team",
      sources: { urls: ["https://github.com/fluxcd/?*", "ssh://git@github.com:fluxcd/?*"] },
      crossNamespaceRefs: [{ namespace: "flux-system", kind: "HelmRepository" }],
    },
  ],
});

/**
 * flux2-kustomize-helm-example's tenants: `dev-team` runs podinfo from its chart repository, `sre-team` the
 * infrastructure charts from OCI registries; both own namespaces by label, and `flux-system` is the platform's.
 */
export const kustomizeHelmPolicy = policySchema.parse({
  exemptions: { namespaces: ["flux-system"] },
  tenants: [
    {
      name: "dev-team",
      namespaceSelector: { matchLabels: { "toolkit.fluxcd.io/tenant": "dev-team" } },
      serviceAccountName: "dev-team",
      sources: { urls: ["https://stefanprodan.github.io/podinfo"] },
      versions: { charts: [{ name: "podinfo", range: ">=1.0.0-alpha" }] },
    },
    {
      name: "sre-team",
      namespaceSelector: { matchLabels: { "toolkit.fluxcd.io/tenant": "sre-team" } },
      serviceAccountName: "sre-team",
      sources: { urls: ["oci://quay.io/jetstack/charts/*", "oci://docker.io/envoyproxy/*"] },
      versions: {
        charts: [
          { name: "cert-manager", range: "1.x" },
          { name: "gateway-helm", range: ">=1.8.0-rc.0" },
        ],
      },
    },
  ],
});

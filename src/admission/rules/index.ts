/**
 * Every admission rule, in the order they run and report. A new rule is a file in this folder, a name in the
 * policy's `RULE_NAMES` and an entry here.
 */
import type { AdmissionRule } from "./admission-rule.ts";
import { crossNamespaceRefs } from "./cross-namespace-refs.ts";
import { remoteKubeConfig } from "./remote-kubeconfig.ts";
import { semverRange } from "./semver-range.ts";
import { serviceAccount } from "./service-account.ts";
import { sourceUrl } from "./source-url.ts";
import { targetNamespace } from "./target-namespace.ts";

export const RULES: readonly AdmissionRule[] = Object.freeze([crossNamespaceRefs, serviceAccount, remoteKubeConfig, sourceUrl, targetNamespace, semverRange]);

/**
 * Who a request comes from. The emulator accepts any or no bearer token: a token listed in `tokens` names its user,
 * anything else is `system:admin` in `system:masters`. `Impersonate-User`/`-Group`/`-Uid` headers (kubectl `--as`,
 * `--as-group`) then replace the user, as kube-apiserver does for an allowed impersonator. Every authenticated user
 * also gets `system:authenticated`, like the real authenticator chain adds.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { UserInfo } from "./admission-types.ts";

/** Bearer token → user, the emulator's `tokens` option. */
export type TokenUsers = Record<string, { username: string; groups: string[] }>;

/** The default caller. */
export const ADMIN_USER: UserInfo = { username: "system:admin", groups: ["system:masters", "system:authenticated"] };

const withAuthenticated = (groups: string[]): string[] => (groups.includes("system:authenticated") ? groups : [...groups, "system:authenticated"]);

function headerList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== "");
}

/** The user a request acts as. */
export function requestUser(headers: IncomingHttpHeaders, tokens: TokenUsers): UserInfo {
  let user: UserInfo = { ...ADMIN_USER, groups: [...ADMIN_USER.groups] };
  const auth = headers.authorization;
  const m = auth === undefined ? null : /^Bearer\s+(.+)$/i.exec(auth);
  if (m !== null) {
    const known = tokens[m[1]!.trim()];
    if (known !== undefined) user = { username: known.username, groups: withAuthenticated([...known.groups]) };
  }
  const as = headers["impersonate-user"];
  if (typeof as === "string" && as !== "") {
    let groups = headerList(headers["impersonate-group"]);
    const sa = /^system:serviceaccount:([^:]+):[^:]+$/.exec(as);
    // Impersonating a service account without groups gives it the service account groups.
    if (sa !== null && groups.length === 0) groups = ["system:serviceaccounts", `system:serviceaccounts:${sa[1]}`];
    user = { username: as, groups: withAuthenticated(groups) };
    const uid = headers["impersonate-uid"];
    if (typeof uid === "string" && uid !== "") user.uid = uid;
  }
  return user;
}

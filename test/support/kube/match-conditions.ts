/**
 * A small subset of CEL for webhook `matchConditions`, enough for the conditions admission configurations use in
 * practice: `!request.userInfo.username.startsWith("system:serviceaccount:flux-system:")`,
 * `request.namespace != "kube-system"`, `has(object.metadata.labels) && "x" in object.metadata.labels`.
 *
 * Supported: `&&`, `||`, `!`, parentheses, `==`, `!=`, `in` (list or map keys), field selection (`a.b`, `a["b"]`),
 * string/number/bool/null literals, list literals, `has(a.b)`, `s.startsWith(x)`, `s.endsWith(x)`, `s.contains(x)`,
 * `size(x)` / `x.size()`. Not supported: macros (`exists`, `all`, `map`), arithmetic, `authorizer`. Anything else is a `CelSyntaxError` (a test wrote a condition this emulator cannot run).
 * Evaluation errors (a missing map key, a type mismatch) are `CelEvalError`s, which the dispatcher handles like
 * kube-apiserver: `failurePolicy: Fail` rejects, `Ignore` skips the webhook.
 */

/** The expression uses CEL this subset does not implement. */
export class CelSyntaxError extends Error {
  override name = "CelSyntaxError";
}

/** Evaluation failed (CEL's "no such key", "no matching overload"). */
export class CelEvalError extends Error {
  override name = "CelEvalError";
}

type Tok = { t: "id" | "str" | "num" | "op"; v: string };

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (["&&", "||", "==", "!="].includes(two)) {
      out.push({ t: "op", v: two });
      i += 2;
    } else if ("!().,[]".includes(c)) {
      out.push({ t: "op", v: c });
      i++;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let s = "";
      while (j < src.length && src[j] !== c) {
        if (src[j] === "\\") {
          const n = src[j + 1];
          s += n === "n" ? "\n" : n === "t" ? "\t" : (n ?? "");
          j += 2;
        } else s += src[j++];
      }
      if (j >= src.length) throw new CelSyntaxError(`unterminated string in ${JSON.stringify(src)}`);
      out.push({ t: "str", v: s });
      i = j + 1;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(src.slice(i))!;
      out.push({ t: "num", v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      out.push({ t: "id", v: m[0] });
      i += m[0].length;
    } else throw new CelSyntaxError(`unsupported character ${JSON.stringify(c)} in ${JSON.stringify(src)}`);
  }
  return out;
}

type Env = Record<string, unknown>;
type Expr = (env: Env) => unknown;

/** Compiles `src`; the result evaluates it against the variables (`object`, `oldObject`, `request`). */
export function compileCel(src: string): (vars: Env) => unknown {
  const toks = lex(src);
  let pos = 0;
  const peek = (): Tok | undefined => toks[pos];
  const isOp = (v: string): boolean => peek()?.t === "op" && peek()?.v === v;
  const expect = (v: string): void => {
    if (!isOp(v)) throw new CelSyntaxError(`expected ${JSON.stringify(v)} at token ${pos} of ${JSON.stringify(src)}`);
    pos++;
  };

  const orExpr = (): Expr => {
    let left = andExpr();
    while (isOp("||")) {
      pos++;
      const [l, r] = [left, andExpr()];
      left = (env) => bool(l(env)) || bool(r(env));
    }
    return left;
  };
  const andExpr = (): Expr => {
    let left = unary();
    while (isOp("&&")) {
      pos++;
      const [l, r] = [left, unary()];
      left = (env) => bool(l(env)) && bool(r(env));
    }
    return left;
  };
  const unary = (): Expr => {
    if (isOp("!")) {
      pos++;
      const e = unary();
      return (env) => !bool(e(env));
    }
    return relation();
  };
  const relation = (): Expr => {
    const left = postfix();
    const t = peek();
    if (t && ((t.t === "op" && (t.v === "==" || t.v === "!=")) || (t.t === "id" && t.v === "in"))) {
      pos++;
      const right = postfix();
      if (t.v === "==") return (env) => equal(left(env), right(env));
      if (t.v === "!=") return (env) => !equal(left(env), right(env));
      return (env) => {
        const [x, c] = [left(env), right(env)];
        if (Array.isArray(c)) return c.some((i) => equal(i, x));
        if (isMap(c)) return typeof x === "string" && Object.hasOwn(c, x);
        throw new CelEvalError("no matching overload for 'in'");
      };
    }
    return left;
  };
  const postfix = (): Expr => {
    let e = primary();
    for (;;) {
      if (isOp(".")) {
        pos++;
        const name = ident();
        if (isOp("(")) {
          const args = callArgs();
          const target = e;
          e = method(name, target, args);
        } else {
          const target = e;
          e = (env) => select(target(env), name);
        }
      } else if (isOp("[")) {
        pos++;
        const key = orExpr();
        expect("]");
        const target = e;
        e = (env) => {
          const k = key(env);
          const v = target(env);
          if (Array.isArray(v) && typeof k === "number") {
            if (k < 0 || k >= v.length) throw new CelEvalError(`index out of bounds: ${k}`);
            return v[k];
          }
          if (typeof k !== "string") throw new CelEvalError("no matching overload for '_[_]'");
          return select(v, k);
        };
      } else return e;
    }
  };
  const ident = (): string => {
    const t = peek();
    if (t?.t !== "id") throw new CelSyntaxError(`expected an identifier at token ${pos} of ${JSON.stringify(src)}`);
    pos++;
    return t.v;
  };
  const callArgs = (): Expr[] => {
    expect("(");
    const args: Expr[] = [];
    if (!isOp(")")) {
      args.push(orExpr());
      while (isOp(",")) {
        pos++;
        args.push(orExpr());
      }
    }
    expect(")");
    return args;
  };
  const primary = (): Expr => {
    const t = peek();
    if (t === undefined) throw new CelSyntaxError(`unexpected end of ${JSON.stringify(src)}`);
    pos++;
    if (t.t === "str") return () => t.v;
    if (t.t === "num") return () => Number(t.v);
    if (t.t === "op" && t.v === "(") {
      const e = orExpr();
      expect(")");
      return e;
    }
    if (t.t === "op" && t.v === "[") {
      const items: Expr[] = [];
      if (!isOp("]")) {
        items.push(orExpr());
        while (isOp(",")) {
          pos++;
          items.push(orExpr());
        }
      }
      expect("]");
      return (env) => items.map((i) => i(env));
    }
    if (t.t === "id") {
      if (t.v === "true" || t.v === "false") return () => t.v === "true";
      if (t.v === "null") return () => null;
      if (t.v === "has") {
        const [arg] = callArgs();
        if (arg === undefined) throw new CelSyntaxError(`has() needs a field selection in ${JSON.stringify(src)}`);
        return (env) => {
          try {
            arg(env);
            return true;
          } catch (e) {
            if (e instanceof CelEvalError) return false;
            throw e;
          }
        };
      }
      if (t.v === "size" && isOp("(")) {
        const [arg] = callArgs();
        return (env) => size(arg!(env));
      }
      return (env) => {
        if (!Object.hasOwn(env, t.v)) throw new CelSyntaxError(`undeclared reference to '${t.v}'`);
        return env[t.v];
      };
    }
    throw new CelSyntaxError(`unexpected ${JSON.stringify(t.v)} in ${JSON.stringify(src)}`);
  };
  const method = (name: string, target: Expr, args: Expr[]): Expr => {
    const str = (v: unknown): string => {
      if (typeof v !== "string") throw new CelEvalError(`no matching overload for '${name}'`);
      return v;
    };
    switch (name) {
      case "startsWith":
        return (env) => str(target(env)).startsWith(str(args[0]!(env)));
      case "endsWith":
        return (env) => str(target(env)).endsWith(str(args[0]!(env)));
      case "contains":
        return (env) => str(target(env)).includes(str(args[0]!(env)));
      case "size":
        return (env) => size(target(env));
      default:
        throw new CelSyntaxError(`method ${name}() is not supported by this CEL subset`);
    }
  };

  const root = orExpr();
  if (pos !== toks.length) throw new CelSyntaxError(`unexpected ${JSON.stringify(toks[pos]!.v)} in ${JSON.stringify(src)}`);
  return root;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function select(v: unknown, name: string): unknown {
  if (!isMap(v)) throw new CelEvalError(v === null || v === undefined ? `no such key: ${name}` : `type does not support field selection: ${name}`);
  if (!Object.hasOwn(v, name)) throw new CelEvalError(`no such key: ${name}`);
  return v[name];
}

function bool(v: unknown): boolean {
  if (typeof v !== "boolean") throw new CelEvalError("no matching overload for logical operator");
  return v;
}

function size(v: unknown): number {
  if (typeof v === "string" || Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  throw new CelEvalError("no matching overload for 'size'");
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

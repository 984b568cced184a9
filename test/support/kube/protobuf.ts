/**
 * Decodes the Kubernetes protobuf encoding (`application/vnd.kubernetes.protobuf`: "k8s\0" + runtime.Unknown) of
 * the few built-in kinds kubectl's typed generators send that way (`kubectl create namespace|configmap|secret|
 * serviceaccount`, leases), into the JSON form the rest of the emulator works on. Field numbers are those of
 * k8s.io/api `generated.proto`. Answers stay JSON, which clients accept.
 */
import type { KubeObject } from "./admission-types.ts";

type Field = { wire: number; num: bigint; bytes: Uint8Array };
type Message = Map<number, Field[]>;

const MAGIC = [0x6b, 0x38, 0x73, 0x00];

function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error("truncated varint");
    const b = buf[pos++]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

function parse(buf: Uint8Array): Message {
  const out: Message = new Map();
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = readVarint(buf, pos);
    pos = p1;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let f: Field;
    if (wire === 0) {
      const [v, p2] = readVarint(buf, pos);
      pos = p2;
      f = { wire, num: v, bytes: new Uint8Array() };
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      const end = p2 + Number(len);
      if (end > buf.length) throw new Error("truncated field");
      f = { wire, num: 0n, bytes: buf.subarray(p2, end) };
      pos = end;
    } else if (wire === 1) {
      f = { wire, num: 0n, bytes: buf.subarray(pos, pos + 8) };
      pos += 8;
    } else if (wire === 5) {
      f = { wire, num: 0n, bytes: buf.subarray(pos, pos + 4) };
      pos += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
    out.set(field, [...(out.get(field) ?? []), f]);
  }
  return out;
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
// Go writes non-pointer strings even when empty; JSON would omit them (omitempty), so empty reads as absent.
const str = (m: Message, n: number): string | undefined => {
  const f = m.get(n)?.at(-1);
  return f === undefined || f.bytes.length === 0 ? undefined : text(f.bytes);
};
const strs = (m: Message, n: number): string[] | undefined => m.get(n)?.map((f) => text(f.bytes));
const int = (m: Message, n: number): number | undefined => {
  const f = m.get(n)?.at(-1);
  return f === undefined ? undefined : Number(BigInt.asIntN(64, f.num));
};
const bool = (m: Message, n: number): boolean | undefined => {
  const f = m.get(n)?.at(-1);
  return f === undefined ? undefined : f.num !== 0n;
};
const msg = (m: Message, n: number): Message | undefined => {
  const f = m.get(n)?.at(-1);
  return f === undefined ? undefined : parse(f.bytes);
};
const msgs = (m: Message, n: number): Message[] => (m.get(n) ?? []).map((f) => parse(f.bytes));

function map(m: Message, n: number, base64 = false): Record<string, string> | undefined {
  const entries = m.get(n);
  if (entries === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const e of entries) {
    const kv = parse(e.bytes);
    const v = kv.get(2)?.at(-1)?.bytes ?? new Uint8Array();
    out[str(kv, 1) ?? ""] = base64 ? Buffer.from(v).toString("base64") : text(v);
  }
  return out;
}

function time(m: Message | undefined): string | undefined {
  if (m === undefined) return undefined;
  return `${new Date((int(m, 1) ?? 0) * 1000).toISOString().slice(0, 19)}Z`;
}

/** Drops undefined values so the result looks like decoded JSON. */
function compact(o: Record<string, unknown>): KubeObject {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function objectMeta(m: Message | undefined): KubeObject {
  if (m === undefined) return {};
  return compact({
    name: str(m, 1),
    generateName: str(m, 2),
    namespace: str(m, 3),
    uid: str(m, 5),
    resourceVersion: str(m, 6),
    generation: int(m, 7) || undefined,
    creationTimestamp: time(msg(m, 8)),
    labels: map(m, 11),
    annotations: map(m, 12),
    ownerReferences:
      m.get(13) === undefined
        ? undefined
        : msgs(m, 13).map((r) => compact({ apiVersion: str(r, 5), kind: str(r, 1), name: str(r, 3), uid: str(r, 4), controller: bool(r, 6), blockOwnerDeletion: bool(r, 7) })),
    finalizers: strs(m, 14),
  });
}

type Decoder = (m: Message) => Record<string, unknown>;

const DECODERS: Record<string, Decoder> = {
  "v1/Namespace": (m) => {
    const spec = msg(m, 2);
    const status = msg(m, 3);
    return {
      spec: spec === undefined ? undefined : compact({ finalizers: strs(spec, 1) }),
      status: status === undefined ? undefined : compact({ phase: str(status, 1) }),
    };
  },
  "v1/ConfigMap": (m) => ({ data: map(m, 2), binaryData: map(m, 3, true), immutable: bool(m, 4) }),
  "v1/Secret": (m) => ({ data: map(m, 2, true), type: str(m, 3), stringData: map(m, 4), immutable: bool(m, 5) }),
  "v1/ServiceAccount": (m) => ({
    secrets: m.get(2) === undefined ? undefined : msgs(m, 2).map((r) => compact({ kind: str(r, 1), namespace: str(r, 2), name: str(r, 3), uid: str(r, 4), apiVersion: str(r, 5) })),
    imagePullSecrets: m.get(3) === undefined ? undefined : msgs(m, 3).map((r) => compact({ name: str(r, 1) })),
    automountServiceAccountToken: bool(m, 4),
  }),
  "coordination.k8s.io/v1/Lease": (m) => {
    const s = msg(m, 2);
    const micro = (t: Message | undefined): string | undefined => {
      if (t === undefined) return undefined;
      const d = new Date((int(t, 1) ?? 0) * 1000 + Math.floor((int(t, 2) ?? 0) / 1e6));
      return `${d.toISOString().slice(0, 19)}.${String(int(t, 2) ?? 0).padStart(9, "0").slice(0, 6)}Z`;
    };
    return {
      spec:
        s === undefined
          ? undefined
          : compact({
              holderIdentity: str(s, 1),
              leaseDurationSeconds: int(s, 2),
              acquireTime: micro(msg(s, 3)),
              renewTime: micro(msg(s, 4)),
              leaseTransitions: int(s, 5),
              strategy: str(s, 6),
              preferredHolder: str(s, 7),
            }),
    };
  },
};

/**
 * The JSON object a protobuf request body encodes; throws when it is not the Kubernetes envelope or a kind this
 * decoder knows (the caller answers 415, as for any unsupported body).
 */
export function decodeKubeProtobuf(body: Uint8Array): KubeObject {
  if (body.length < 4 || MAGIC.some((b, i) => body[i] !== b)) throw new Error("not a Kubernetes protobuf envelope");
  const unknown = parse(body.subarray(4));
  const typeMeta = msg(unknown, 1);
  const apiVersion = typeMeta === undefined ? "" : (str(typeMeta, 1) ?? "");
  const kind = typeMeta === undefined ? "" : (str(typeMeta, 2) ?? "");
  const decode = DECODERS[`${apiVersion}/${kind}`];
  if (decode === undefined) throw new Error(`protobuf for ${apiVersion}/${kind} is not supported`);
  const raw = parse(unknown.get(2)?.at(-1)?.bytes ?? new Uint8Array());
  return compact({ apiVersion, kind, metadata: objectMeta(msg(raw, 1)), ...decode(raw) });
}

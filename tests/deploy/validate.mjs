// validate.mjs FILE... — every object in the rendered manifests against the Kubernetes API
// schemas bundled in kubernetes-models (the OpenAPI of the Kubernetes release it names), offline.
// Those schemas let unknown fields through, as the API server's non-strict decoding would, so a
// misspelt field (readinesProbe, imagePullPolicey) would silently do nothing: each field is
// also checked to be one the schema knows, by giving it a value no schema accepts (a Symbol)
// and seeing the schema complain at that exact place (all fields of one object in one pass).
// Exit status 1 with one line per problem.
//   validate.mjs --same A B   A and B hold the same objects (render.mjs against kubectl kustomize)
import fs from "node:fs";
import { createRequire } from "node:module";
import YAML from "yaml";

const require = createRequire(import.meta.url);
// values the schemas deliberately leave open (free-form JSON): nothing of ours lives there
const FREE = [];

function load(file) {
  return YAML.parseAllDocuments(fs.readFileSync(file, "utf8"), { version: "1.1" })
    .map((d) => d.toJS()).filter((o) => o);
}

// the model class of apiVersion + kind (kubernetes-models/apps/v1 exports Deployment, ...), as
// a function giving the schema's errors for an object (null: valid)
function validator(o) {
  let Model;
  try {
    Model = require(`kubernetes-models/${o.apiVersion}`)[o.kind];
  } catch {
    return null;
  }
  if (!Model || typeof o.kind !== "string") return null;
  const validate = (obj) => {
    try {
      new Model(obj).validate();
      return null;
    } catch (e) {
      if (!Array.isArray(e.errors)) throw e;
      return e.errors;
    }
  };
  return validate;
}

const esc = (k) => String(k).replace(/~/g, "~0").replace(/\//g, "~1");
const where = (o) => `${o.kind}/${o.metadata?.name ?? "?"}`;

function unknownFields(o, validate, node, ptr, problems) {
  if (Array.isArray(node)) {
    node.forEach((v, i) => unknownFields(o, validate, v, `${ptr}/${i}`, problems));
    return;
  }
  if (node === null || typeof node !== "object") return;
  // all fields of this object at once (the validators report every error, not the first)
  const saved = { ...node };
  for (const k of Object.keys(node)) node[k] = Symbol("probe");
  const errors = validate(o) || [];
  Object.assign(node, saved);
  const complained = new Set(errors.map((e) => e.instancePath));
  for (const k of Object.keys(node)) {
    const p = `${ptr}/${esc(k)}`;
    if (FREE.some((f) => p.startsWith(f))) continue;
    if (!complained.has(p)) {
      problems.push(`${where(o)}: ${p}: unknown field "${k}"`);
      continue;
    }
    unknownFields(o, validate, node[k], p, problems);
  }
}

// Confetti's own rules on top of the schemas (issue 15, docs/operations.md): every container
// has requests and limits; every long-running container readiness and liveness probes; every
// pod runs as non-root with RuntimeDefault seccomp, a read-only root filesystem, no privilege
// escalation and no capabilities; every Deployment has a PodDisruptionBudget and a
// NetworkPolicy selecting it, and one that can scale (not Recreate) an autoscaler unless it is
// annotated confetti.dev/fixed-replicas (the bus).
function podSpec(o) {
  if (o.kind === "CronJob") return o.spec?.jobTemplate?.spec?.template?.spec;
  if (["Deployment", "Job", "StatefulSet", "DaemonSet"].includes(o.kind)) return o.spec?.template?.spec;
  return null;
}

function policy(objs, problems) {
  const selects = (sel, labels) =>
    Object.entries(sel?.matchLabels || {}).every(([k, v]) => labels?.[k] === v);
  for (const o of objs) {
    const spec = podSpec(o);
    if (!spec) continue;
    const at = where(o);
    const psc = spec.securityContext || {};
    if (psc.runAsNonRoot !== true) problems.push(`${at}: pod securityContext.runAsNonRoot is not true`);
    if (psc.seccompProfile?.type !== "RuntimeDefault")
      problems.push(`${at}: pod securityContext.seccompProfile.type is not RuntimeDefault`);
    for (const c of [...(spec.containers || []), ...(spec.initContainers || [])]) {
      const cat = `${at}: container ${c.name}`;
      for (const r of ["requests", "limits"])
        for (const q of ["cpu", "memory"])
          if (c.resources?.[r]?.[q] === undefined) problems.push(`${cat}: no resources.${r}.${q}`);
      const sc = c.securityContext || {};
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${cat}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false)
        problems.push(`${cat}: allowPrivilegeEscalation is not false`);
      if (!(sc.capabilities?.drop || []).includes("ALL")) problems.push(`${cat}: capabilities do not drop ALL`);
      if (o.kind === "Deployment")
        for (const p of ["readinessProbe", "livenessProbe"])
          if (!c[p]) problems.push(`${cat}: no ${p}`);
    }
    if (o.kind !== "Deployment") continue;
    const labels = o.spec.template.metadata?.labels;
    const ns = o.metadata.namespace;
    const same = (x) => x.metadata?.namespace === ns;
    if (!objs.some((x) => x.kind === "PodDisruptionBudget" && same(x) && selects(x.spec.selector, labels)))
      problems.push(`${at}: no PodDisruptionBudget selects its pods`);
    if (!objs.some((x) => x.kind === "NetworkPolicy" && same(x) &&
        Object.keys(x.spec.podSelector?.matchLabels || {}).length && selects(x.spec.podSelector, labels)))
      problems.push(`${at}: no NetworkPolicy of its own selects its pods`);
    // a Deployment whose replica count is fixed on purpose says why in this annotation
    if (o.spec.strategy?.type !== "Recreate" && !o.metadata.annotations?.["confetti.dev/fixed-replicas"] &&
        !objs.some((x) => x.kind === "HorizontalPodAutoscaler" && same(x) &&
          x.spec.scaleTargetRef.kind === "Deployment" && x.spec.scaleTargetRef.name === o.metadata.name))
      problems.push(`${at}: no HorizontalPodAutoscaler`);
  }
}

// Peers dial a Service's name and get every ready pod's address (common/rpc/resolve.h, issue 15
// item 5): a Service that a process dials by name must be headless (clusterIP: None) — behind a
// cluster IP each connection stays on one pod and pods added later get nothing — and the port
// dialed must be one its pods listen on, since a headless Service maps no port.
function peers(objs, problems) {
  const values = [];
  for (const o of objs) {
    const spec = podSpec(o);
    for (const c of spec ? [...(spec.containers || []), ...(spec.initContainers || [])] : [])
      for (const e of c.env || []) if (typeof e.value === "string") values.push([where(o), e.value]);
    if (o.kind === "ConfigMap")
      for (const v of Object.values(o.data || {})) values.push([where(o), String(v)]);
  }
  const done = new Set();
  for (const [from, v] of values)
    for (const [url, name, port] of v.matchAll(/tcp:\/\/([a-z0-9-]+)(?:\.[a-z0-9.-]*)?:(\d+)/g)) {
      const svc = objs.find((x) => x.kind === "Service" && x.metadata?.name === name);
      if (!svc || done.has(url)) continue;
      done.add(url);
      if (svc.spec?.clusterIP !== "None")
        problems.push(`Service/${name}: dialed by name (${url}, ${from}) but not headless ` +
          "(clusterIP: None): each connection would stay on one pod");
      const sel = Object.entries(svc.spec?.selector || {});
      const listens = objs.filter((x) => x.kind === "Deployment" && x.metadata?.namespace === svc.metadata?.namespace &&
          sel.every(([k, val]) => x.spec.template.metadata?.labels?.[k] === val))
        .flatMap((x) => x.spec.template.spec.containers.flatMap((c) => (c.ports || []).map((p) => p.containerPort)));
      if (!listens.includes(Number(port)))
        problems.push(`Service/${name}: ${url} (${from}): no pod it selects listens on ${port} ` +
          "(a headless Service maps no port)");
    }
}

function check(files) {
  const problems = [];
  const all = [];
  let n = 0;
  for (const f of files)
    for (const o of load(f)) {
      n++;
      all.push(o);
      const validate = validator(o);
      if (!validate) {
        problems.push(`${f}: ${where(o)}: no schema for apiVersion ${o.apiVersion} kind ${o.kind}`);
        continue;
      }
      const errors = validate(o);
      if (errors) {
        for (const e of errors)
          problems.push(`${where(o)}: ${e.instancePath || "/"}: ${e.message}` +
            (e.params?.allowedValues ? ` (${e.params.allowedValues.join(", ")})` : ""));
        continue;
      }
      unknownFields(o, validate, o, "", problems);
    }
  policy(all, problems);
  peers(all, problems);
  for (const p of problems) console.log(`k8s: ${p}`);
  console.log(`k8s: ${n} objects, ${problems.length} problems`);
  return problems.length ? 1 : 0;
}

// kubectl folds long base64 lines: compare Secret data without whitespace
function canon(v, key) {
  if (typeof v === "string" && key === "secretData") return v.replace(/\s/g, "");
  if (Array.isArray(v)) return v.map((x) => canon(x));
  if (v && typeof v === "object")
    return Object.fromEntries(Object.keys(v).sort().map((k) =>
      [k, key === "secret" && k === "data"
        ? Object.fromEntries(Object.entries(v.data).sort().map(([dk, dv]) => [dk, canon(dv, "secretData")]))
        : canon(v[k])]));
  return v;
}

function same(a, b) {
  const index = (f) => new Map(load(f).map((o) =>
    [`${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`,
      JSON.stringify(canon(o, o.kind === "Secret" ? "secret" : undefined))]));
  const A = index(a), B = index(b);
  let bad = 0;
  for (const [k, v] of A)
    if (!B.has(k)) { console.log(`k8s: only in ${a}: ${k}`); bad++; }
    else if (B.get(k) !== v) {
      // never a Secret's values on the terminal
      const show = (s) => (k.startsWith("Secret/") ? "(secret data)" : s);
      console.log(`k8s: differs: ${k}\n  ${show(v)}\n  ${show(B.get(k))}`);
      bad++;
    }
  for (const k of B.keys()) if (!A.has(k)) { console.log(`k8s: only in ${b}: ${k}`); bad++; }
  console.log(`k8s: ${A.size} objects compared, ${bad} differences`);
  return bad ? 1 : 0;
}

const args = process.argv.slice(2);
if (args[0] === "--same" && args.length === 3) process.exit(same(args[1], args[2]));
if (!args.length) { console.error("usage: validate.mjs FILE... | --same A B"); process.exit(2); }
process.exit(check(args));

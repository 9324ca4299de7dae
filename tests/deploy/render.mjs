// render.mjs DIR — renders the kustomization in DIR to stdout (YAML documents), offline, with
// only the kustomize fields deploy/k8s uses: resources (files or directories), namespace,
// generatorOptions.disableNameSuffixHash, configMapGenerator/secretGenerator (files, envs, literals),
// images (newName, newTag), patches (inline JSON 6902, target kind + name regex). Any other
// field is an error rather than silently ignored, so the overlays cannot drift from what this
// renders; kube.sh compares it with `kubectl kustomize` where kubectl is installed.
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";

const KNOWN = new Set(["apiVersion", "kind", "resources", "namespace", "generatorOptions",
  "configMapGenerator", "secretGenerator", "images", "patches"]);
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding",
  "CustomResourceDefinition", "PersistentVolume", "StorageClass", "PriorityClass"]);

function fail(msg) {
  process.stderr.write(`render: ${msg}\n`);
  process.exit(1);
}

function parseDocs(file) {
  const text = fs.readFileSync(file, "utf8");
  const docs = YAML.parseAllDocuments(text, { version: "1.1" });
  const out = [];
  for (const d of docs) {
    if (d.errors.length) fail(`${file}: ${d.errors[0].message}`);
    const v = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

// "key=path" or "path" (key = the file's name), relative to the kustomization, never above it
function fileSource(dir, spec) {
  const eq = spec.indexOf("=");
  const key = eq >= 0 ? spec.slice(0, eq) : path.basename(spec);
  const rel = eq >= 0 ? spec.slice(eq + 1) : spec;
  const full = path.resolve(dir, rel);
  if (!full.startsWith(path.resolve(dir) + path.sep))
    fail(`${dir}: ${rel} is not in or below the kustomization's directory`);
  if (!fs.existsSync(full)) fail(`${dir}: ${rel}: no such file`);
  return [key, fs.readFileSync(full)];
}

function generate(dir, gen, kind, ns) {
  const data = {};
  for (const f of gen.files || []) {
    const [k, buf] = fileSource(dir, f);
    data[k] = kind === "Secret" ? buf.toString("base64") : buf.toString("utf8");
  }
  // envs: KEY=VALUE lines of env files (blank lines and # comments skipped), as kustomize reads them
  for (const f of gen.envs || []) {
    const [, buf] = fileSource(dir, f);
    for (const line of buf.toString("utf8").split("\n")) {
      const t = line.trim();
      if (!t || t.startsWith("#")) continue;
      const eq = t.indexOf("=");
      if (eq <= 0) fail(`${dir}: ${f}: not KEY=VALUE: ${t}`);
      const k = t.slice(0, eq), v = t.slice(eq + 1);
      data[k] = kind === "Secret" ? Buffer.from(v).toString("base64") : v;
    }
  }
  for (const l of gen.literals || []) {
    const eq = l.indexOf("=");
    const k = l.slice(0, eq), v = l.slice(eq + 1);
    data[k] = kind === "Secret" ? Buffer.from(v).toString("base64") : v;
  }
  for (const key of Object.keys(gen))
    if (!["name", "files", "envs", "literals", "type"].includes(key))
      fail(`${dir}: ${kind} generator field ${key} is not supported`);
  const obj = { apiVersion: "v1", kind, metadata: { name: gen.name }, data };
  if (ns) obj.metadata.namespace = ns;
  if (kind === "Secret") obj.type = gen.type || "Opaque";
  return obj;
}

function pointer(p) {
  return p.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function applyOp(doc, op, where) {
  const parts = pointer(op.path);
  const last = parts.pop();
  let parent = doc;
  for (const p of parts) {
    if (parent === null || typeof parent !== "object" || !(p in parent))
      fail(`${where}: path ${op.path} does not exist`);
    parent = parent[p];
  }
  const isArr = Array.isArray(parent);
  switch (op.op) {
    case "add":
      if (isArr) parent.splice(last === "-" ? parent.length : Number(last), 0, op.value);
      else parent[last] = op.value;
      break;
    case "replace":
      if (!(last in parent)) fail(`${where}: replace: ${op.path} does not exist`);
      parent[last] = op.value;
      break;
    case "remove":
      if (!(last in parent)) fail(`${where}: remove: ${op.path} does not exist`);
      if (isArr) parent.splice(Number(last), 1);
      else delete parent[last];
      break;
    default:
      fail(`${where}: op ${op.op} is not supported`);
  }
}

function render(dir) {
  const kfile = path.join(dir, "kustomization.yaml");
  if (!fs.existsSync(kfile)) fail(`${dir}: no kustomization.yaml`);
  const [k] = parseDocs(kfile);
  for (const key of Object.keys(k))
    if (!KNOWN.has(key)) fail(`${kfile}: field ${key} is not supported by render.mjs`);
  if (k.generatorOptions && (Object.keys(k.generatorOptions).join() !== "disableNameSuffixHash" ||
      k.generatorOptions.disableNameSuffixHash !== true))
    fail(`${kfile}: only generatorOptions.disableNameSuffixHash: true is supported`);
  if ((k.configMapGenerator || k.secretGenerator) && !k.generatorOptions)
    fail(`${kfile}: generators need generatorOptions.disableNameSuffixHash: true here`);
  let objs = [];
  for (const r of k.resources || []) {
    const full = path.resolve(dir, r);
    if (fs.statSync(full).isDirectory()) objs.push(...render(full));
    else objs.push(...parseDocs(full));
  }
  for (const g of k.configMapGenerator || []) objs.push(generate(dir, g, "ConfigMap", null));
  for (const g of k.secretGenerator || []) objs.push(generate(dir, g, "Secret", null));
  if (k.namespace)
    for (const o of objs)
      if (!CLUSTER_SCOPED.has(o.kind)) (o.metadata ??= {}).namespace = k.namespace;
  for (const img of k.images || []) {
    const containers = (o) => {
      const spec = o.kind === "CronJob" ? o.spec?.jobTemplate?.spec?.template?.spec
        : o.spec?.template?.spec;
      return [...(spec?.containers || []), ...(spec?.initContainers || [])];
    };
    for (const o of objs)
      for (const c of containers(o)) {
        const [name, tag] = c.image.split(":");
        if (name !== img.name) continue;
        c.image = `${img.newName || name}:${img.newTag || tag}`;
      }
  }
  for (const p of k.patches || []) {
    if (!p.target || !p.patch) fail(`${kfile}: a patch needs target and an inline patch`);
    const ops = YAML.parse(p.patch);
    if (!Array.isArray(ops)) fail(`${kfile}: only JSON 6902 patches (a list of ops) are supported`);
    const re = p.target.name ? new RegExp(`^(?:${p.target.name})$`) : null;
    let hit = 0;
    for (const o of objs) {
      if (p.target.kind && o.kind !== p.target.kind) continue;
      if (re && !re.test(o.metadata.name)) continue;
      hit++;
      for (const op of ops) applyOp(o, op, `${kfile}: ${o.kind}/${o.metadata.name}`);
    }
    if (!hit) fail(`${kfile}: patch target ${JSON.stringify(p.target)} matches nothing`);
  }
  return objs;
}

const dir = process.argv[2];
if (!dir) fail("usage: render.mjs KUSTOMIZATION_DIR");
const objs = render(path.resolve(dir));
process.stdout.write(objs.map((o) => YAML.stringify(o, { lineWidth: 0, version: "1.1" })).join("---\n"));

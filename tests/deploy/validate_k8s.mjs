// Validates rendered Kubernetes objects against the API's OpenAPI schemas, offline.
// Schemas: the npm package kubernetes-models (JSON-schema validators generated from the
// Kubernetes OpenAPI spec) under .local/node, and @kubernetes-models/prometheus-operator for
// the Prometheus Operator's custom resources (monitoring.coreos.com: ServiceMonitor,
// PrometheusRule). Those validators check types, formats, enums and
// required fields but accept unknown fields, which the API server rejects (kubectl apply
// --validate=strict): the package's type declarations list every field of every type, so a
// second pass walks each object and reports fields no schema declares (a typo such as
// `readinesProbe` would otherwise pass unnoticed).
//   node tests/deploy/validate_k8s.mjs FILE.json   (a JSON array of objects)
// Prints one JSON object {results: [{kind, name, errors: [...]}]}; exit 0 even with errors
// (the caller decides), 2 when the package is missing.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeModules = process.env.K8S_MODELS_NODE_MODULES ||
  path.resolve(here, "../../.local/node/node_modules");
const modelsDir = path.join(nodeModules, "kubernetes-models");
const machineryDir = path.join(nodeModules, "@kubernetes-models/apimachinery");
const operatorDir = path.join(nodeModules, "@kubernetes-models/prometheus-operator");
if (!fs.existsSync(path.join(modelsDir, "package.json"))) {
  console.error(`validate_k8s: kubernetes-models not found under ${nodeModules}`);
  process.exit(2);
}

// apiVersion "apps/v1" -> kubernetes-models/apps/v1/<Kind>.js; "v1" -> kubernetes-models/v1;
// "monitoring.coreos.com/v1" -> @kubernetes-models/prometheus-operator/monitoring.coreos.com/v1.
function modelFile(apiVersion, kind, ext) {
  const dir = apiVersion.startsWith("monitoring.coreos.com/") ? operatorDir : modelsDir;
  return path.join(dir, ...apiVersion.split("/"), `${kind}${ext}`);
}

// ---- field inventory from the type declarations ------------------------------------------
// Every model file declares `export interface IShort { "field"?: Type; ... }` and exports it
// under its long name (IIoK8sApiAppsV1DeploymentSpec) which other files reference.
const types = new Map(); // interface name (short and long) -> Map(field -> type text)

function parseDts(file) {
  const text = fs.readFileSync(file, "utf8");
  const re = /^export interface (I\w+)(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}/gm;
  for (let m; (m = re.exec(text)); ) {
    const fields = new Map();
    for (const line of m[2].split("\n")) {
      const f = /^ {4}"([^"]+)"\??: (.*?);?$/.exec(line);
      if (f) fields.set(f[1], f[2]);
    }
    types.set(m[1], fields);
    const alias = new RegExp(`\\b${m[1]} as (I\\w+)`).exec(text);
    if (alias) types.set(alias[1], fields);
  }
}

function walkDts(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "node_modules" && e.name !== "_schemas") walkDts(p);
    } else if (e.name.endsWith(".d.ts")) parseDts(p);
  }
}

function unknownFields(value, type, where, errors) {
  if (value === null || typeof value !== "object") return;
  const arr = /^Array<(.*)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, arr[1], `${where}/${i}`, errors));
    return;
  }
  const fields = types.get(type);
  if (!fields || Array.isArray(value)) return; // maps, IntOrString, Quantity, ...: no field list
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) errors.push(`${where}/${k}: unknown field (not in the ${type.replace(/^IIoK8s(Api)?/, "")} schema)`);
    else unknownFields(v, fields.get(k), `${where}/${k}`, errors);
  }
}

// ---- main --------------------------------------------------------------------------------
const objects = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
walkDts(modelsDir);
walkDts(machineryDir);
if (fs.existsSync(operatorDir)) walkDts(operatorDir);
const results = [];
for (const obj of objects) {
  const kind = obj.kind, apiVersion = obj.apiVersion;
  const errors = [];
  const js = modelFile(apiVersion || "", kind || "", ".js");
  if (!kind || !apiVersion || !fs.existsSync(js)) {
    errors.push(`no schema for apiVersion=${apiVersion} kind=${kind}`);
  } else {
    const mod = await import(pathToFileURL(js).href);
    try {
      new mod[kind](obj).validate();
    } catch (e) {
      for (const line of String(e.message).split(", ")) errors.push(`schema: ${line}`);
    }
    parseDts(modelFile(apiVersion, kind, ".d.ts"));
    unknownFields(obj, `I${kind}`, "", errors);
  }
  results.push({ kind, name: obj.metadata?.name, errors });
}
console.log(JSON.stringify({ results, types: types.size }));

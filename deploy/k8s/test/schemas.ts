// Validators for every kind deploy/k8s renders: the Kubernetes API's own schemas (kubernetes-models),
// cert-manager's (@kubernetes-models/cert-manager), and the CloudNativePG and RabbitMQ cluster
// operators' CRD schemas vendored in deploy/k8s/crd-schemas (scripts/vendor-crd-schemas.mjs).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { type K8sObject, repoRoot } from "./manifests.js";

/** Checks one object; returns what is wrong with it (empty when it is valid). */
export type Validator = (object: K8sObject) => string[];

/** Vendored operator CRDs, by API group. */
const CRD_SCHEMA_FILES: Record<string, string> = {
  "postgresql.cnpg.io": "clusters.postgresql.cnpg.io.json",
  "rabbitmq.com": "rabbitmqclusters.rabbitmq.com.json",
};

/** Where a model class of kubernetes-models lives: core `v1` -> `kubernetes-models/v1/<Kind>`, others by group. */
function modelModule(group: string, version: string, kind: string): string {
  if (group === "") return `kubernetes-models/v1/${kind}`;
  if (group === "cert-manager.io") return `@kubernetes-models/cert-manager/${group}/${version}/${kind}`;
  return `kubernetes-models/${group}/${version}/${kind}`;
}

/**
 * Like the API server with strict field validation, a field the CRD's structural schema does not
 * declare is an error (the server would prune it or refuse it), unless the schema keeps unknown fields.
 */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (!schema || typeof schema !== "object") return schema;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) copy[key] = key === "properties" ? mapValues(value, strict) : strict(value);
  if (copy.properties && copy.additionalProperties === undefined && copy["x-kubernetes-preserve-unknown-fields"] !== true) {
    copy.additionalProperties = false;
  }
  return copy;
}

function mapValues(record: unknown, fn: (value: unknown) => unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record as Record<string, unknown>).map(([key, value]) => [key, fn(value)]));
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const crdValidators = new Map<string, ValidateFunction>();

/** The compiled schema of a vendored CRD version, or undefined when the group or version is not vendored. */
function crdValidator(group: string, version: string): ValidateFunction | undefined {
  const file = CRD_SCHEMA_FILES[group];
  if (!file) return undefined;
  const key = `${group}/${version}`;
  let validate = crdValidators.get(key);
  if (!validate) {
    const vendored = JSON.parse(readFileSync(join(repoRoot, "deploy/k8s/crd-schemas", file), "utf8")) as {
      versions: Record<string, object>;
    };
    const schema = vendored.versions[version];
    if (!schema) return undefined;
    validate = ajv.compile(strict(schema) as object);
    crdValidators.set(key, validate);
  }
  return validate;
}

/** The validator for an object's apiVersion and kind; throws for a kind no schema here covers. */
export async function validatorFor(apiVersion: string, kind: string): Promise<Validator> {
  const [group, version] = apiVersion.includes("/") ? (apiVersion.split("/") as [string, string]) : ["", apiVersion];
  const crd = crdValidator(group, version);
  if (crd) {
    return (object) => (crd(object) ? [] : (crd.errors ?? []).map((error) => `${error.instancePath || "/"} ${error.message}`));
  }
  if (CRD_SCHEMA_FILES[group]) throw new Error(`${apiVersion} ${kind}: no vendored schema for version ${version}`);
  const module = (await import(modelModule(group, version, kind)).catch(() => undefined)) as
    | Record<string, new (data: object) => { validate(): void }>
    | undefined;
  const Model = module?.[kind];
  if (!Model) throw new Error(`${apiVersion} ${kind}: no schema (kubernetes-models, cert-manager or a vendored CRD) covers it`);
  return (object) => {
    try {
      new Model(object).validate();
      return [];
    } catch (error) {
      return [(error as Error).message];
    }
  };
}

/** Every problem of every object, as "<Kind>/<name>: <problem>". */
export async function validateAll(objects: readonly { apiVersion: string; kind: string; metadata: { name: string } }[]): Promise<string[]> {
  const problems: string[] = [];
  for (const object of objects) {
    const validate = await validatorFor(object.apiVersion, object.kind);
    for (const problem of validate(object as K8sObject)) problems.push(`${object.kind}/${object.metadata.name}: ${problem}`);
  }
  return problems;
}

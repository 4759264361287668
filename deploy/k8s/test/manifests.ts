// The rendered manifests of an overlay, as `kubectl kustomize` prints them, and typed views of them.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { IContainer, IEnvVar } from "kubernetes-models/v1";
import { parseAllDocuments } from "yaml";

const run = promisify(execFile);

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const overlays = ["dev", "prod"] as const;
export type Overlay = (typeof overlays)[number];

/** Any Kubernetes object: what every rendered document has, the rest left to the schema. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: an object of any kind; the schema tests hold its shape
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** `kubectl kustomize deploy/k8s/overlays/<overlay>` (KUBECTL, default /usr/bin/kubectl), parsed; rejects with kubectl's message when it fails. */
export async function render(overlay: Overlay): Promise<K8sObject[]> {
  const kubectl = process.env.KUBECTL ?? "/usr/bin/kubectl";
  const rendered = await run(kubectl, ["kustomize", `deploy/k8s/overlays/${overlay}`], {
    cwd: repoRoot,
    maxBuffer: 64 * 1024 * 1024,
  }).catch(async (error: Error & { stderr?: string }) => {
    // An old kubectl embeds a kustomize (v2 in kubectl 1.20) that cannot read these kustomizations: say which it is.
    const version = await run(kubectl, ["version", "--client"]).then(
      ({ stdout }) => stdout.trim().replace(/\n/g, ", "),
      () => "unknown",
    );
    throw new Error(
      `${kubectl} kustomize deploy/k8s/overlays/${overlay} failed (${version}; kustomize v4+ needed):\n${error.stderr ?? error.message}`,
    );
  });
  return parseAllDocuments(rendered.stdout).map((document) => document.toJS() as K8sObject);
}

/** The one object of `kind` named `name`; throws naming what is missing. */
export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} named ${name} in the rendered manifests`);
  return found;
}

/** The objects of one kind. */
export function ofKind(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((object) => object.kind === kind);
}

/** The (only) container of a Deployment. */
export function containerOf(deployment: K8sObject): IContainer {
  const containers = deployment.spec.template.spec.containers as IContainer[];
  if (containers.length !== 1) throw new Error(`${deployment.metadata.name} has ${containers.length} containers, expected one`);
  return containers[0]!;
}

/** A container's environment variables by name. */
export function envOf(container: IContainer): Map<string, IEnvVar> {
  return new Map((container.env ?? []).map((variable) => [variable.name, variable]));
}

/** A container port's number by name. */
export function portOf(container: IContainer, name: string): number {
  const port = container.ports?.find((candidate) => candidate.name === name);
  if (!port) throw new Error(`${container.name} has no port named ${name}`);
  return port.containerPort;
}

// deploy/k8s renders with kubectl's kustomize, and every object it renders is one a cluster with the
// operators installed would accept: checked offline against the Kubernetes API schemas and the
// operators' CRD schemas. No cluster runs here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { vendoredCrds } from "../../../scripts/vendor-crd-schemas.mjs";
import { type K8sObject, overlays, render, repoRoot } from "./manifests.js";
import { validateAll, validatorFor } from "./schemas.js";

describe.each(overlays)("kubectl kustomize deploy/k8s/overlays/%s", (overlay) => {
  it("renders every kind the mesh needs", async () => {
    const kinds = new Set((await render(overlay)).map((object) => `${object.apiVersion} ${object.kind}`));
    for (const kind of [
      "v1 Namespace",
      "v1 ConfigMap",
      "v1 Service",
      "v1 ServiceAccount",
      "apps/v1 Deployment",
      "policy/v1 PodDisruptionBudget",
      "autoscaling/v2 HorizontalPodAutoscaler",
      "networking.k8s.io/v1 NetworkPolicy",
      "cert-manager.io/v1 Issuer",
      "cert-manager.io/v1 Certificate",
      "postgresql.cnpg.io/v1 Cluster",
      "rabbitmq.com/v1beta1 RabbitmqCluster",
    ]) {
      expect(kinds).toContain(kind);
    }
  });

  it("renders only objects that validate against the Kubernetes and the operators' schemas", async () => {
    expect(await validateAll(await render(overlay))).toEqual([]);
  });
});

describe("the schemas the manifests are checked against", () => {
  const deployment: K8sObject = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x" },
    spec: { selector: { matchLabels: { a: "b" } }, template: { spec: { containers: [{ name: "x", image: "x" }] } } },
  };

  it("reject a Deployment whose replicas is not a number", async () => {
    const validate = await validatorFor("apps/v1", "Deployment");
    expect(validate(deployment)).toEqual([]);
    expect(validate({ ...deployment, spec: { ...deployment.spec, replicas: "three" } })).not.toEqual([]);
  });

  it("reject a CloudNativePG Cluster with a misspelt field or a bad instance count, as the operator's CRD does", async () => {
    const validate = await validatorFor("postgresql.cnpg.io/v1", "Cluster");
    const cluster: K8sObject = {
      apiVersion: "postgresql.cnpg.io/v1",
      kind: "Cluster",
      metadata: { name: "x" },
      spec: { instances: 1, storage: { size: "1Gi" } },
    };
    expect(validate(cluster)).toEqual([]);
    expect(validate({ ...cluster, spec: { ...cluster.spec, instancez: 3 } })).toEqual([expect.stringContaining("additional properties")]);
    expect(validate({ ...cluster, spec: { ...cluster.spec, instances: 0 } })).not.toEqual([]);
  });

  it("reject a RabbitmqCluster with a misspelt field", async () => {
    const validate = await validatorFor("rabbitmq.com/v1beta1", "RabbitmqCluster");
    const cluster: K8sObject = {
      apiVersion: "rabbitmq.com/v1beta1",
      kind: "RabbitmqCluster",
      metadata: { name: "x" },
      spec: { replicas: 3 },
    };
    expect(validate(cluster)).toEqual([]);
    expect(validate({ ...cluster, spec: { replica: 3 } })).not.toEqual([]);
  });

  it("reject a cert-manager Certificate with an unknown key usage", async () => {
    const validate = await validatorFor("cert-manager.io/v1", "Certificate");
    const certificate: K8sObject = {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: "x" },
      spec: { secretName: "x", issuerRef: { name: "ca" }, usages: ["client auth"] },
    };
    expect(validate(certificate)).toEqual([]);
    expect(validate({ ...certificate, spec: { ...certificate.spec, usages: ["client-auth"] } })).not.toEqual([]);
  });

  it("refuse a kind none of them covers, rather than pass it unchecked", async () => {
    await expect(validatorFor("example.com/v1", "Widget")).rejects.toThrow(/no schema/);
  });

  it("are the operators' releases that scripts/vendor-crd-schemas.mjs names", () => {
    for (const [file, source] of Object.entries(vendoredCrds)) {
      const [group, plural] = [file.slice(0, file.indexOf("_")), file.slice(file.indexOf("_") + 1, -".yaml".length)];
      const vendored = JSON.parse(readFileSync(join(repoRoot, "deploy/k8s/crd-schemas", `${plural}.${group}.json`), "utf8"));
      expect(vendored.source).toBe(source);
      expect(Object.keys(vendored.versions).length).toBeGreaterThan(0);
    }
  });
});

// Copies the OpenAPI schemas of the operators' custom resources that deploy/k8s uses (CloudNativePG's
// Cluster, the RabbitMQ cluster operator's RabbitmqCluster) out of their published CRD manifests into
// deploy/k8s/crd-schemas/, so the manifests are validated offline against the exact schema the
// operator's API server would apply. cert-manager's schemas come from npm (@kubernetes-models/cert-manager).
//
// No registry ships these CRDs, so the CRD files are given on the command line, taken from the
// operators' releases (the `source` below names the release and the file):
//   node scripts/vendor-crd-schemas.mjs postgresql.cnpg.io_clusters.yaml rabbitmq.com_rabbitmqclusters.yaml
// Bump a release: download its file, run this, commit the JSON and the new `source`.
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The CRD files deploy/k8s depends on, by file name, with the release they are taken from. */
export const vendoredCrds = {
  "postgresql.cnpg.io_clusters.yaml": "cloudnative-pg v1.30.0, config/crd/bases/postgresql.cnpg.io_clusters.yaml",
  "rabbitmq.com_rabbitmqclusters.yaml": "rabbitmq/cluster-operator v2.22.3, config/crd/bases/rabbitmq.com_rabbitmqclusters.yaml",
};

/** Where the schema of a custom resource is kept: `deploy/k8s/crd-schemas/<plural>.<group>.json`. */
export function schemaFile(plural, group) {
  return join(root, "deploy", "k8s", "crd-schemas", `${plural}.${group}.json`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node scripts/vendor-crd-schemas.mjs <crd.yaml>...   (the operators' published CRD files)");
    process.exit(2);
  }
  for (const file of files) {
    const source = vendoredCrds[basename(file)];
    if (!source) throw new Error(`${basename(file)} is not one of the CRDs deploy/k8s uses: ${Object.keys(vendoredCrds).join(", ")}`);
    for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
      const crd = document.toJS();
      if (crd?.kind !== "CustomResourceDefinition") continue;
      const { group, names, versions } = crd.spec;
      const schemas = Object.fromEntries(
        versions.filter((version) => version.served).map((version) => [version.name, version.schema.openAPIV3Schema]),
      );
      const destination = schemaFile(names.plural, group);
      writeFileSync(destination, `${JSON.stringify({ source, group, kind: names.kind, versions: schemas })}\n`);
      console.log(`${destination.slice(root.length + 1)}  <-  ${source}`);
    }
  }
}

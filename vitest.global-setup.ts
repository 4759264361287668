// Once per test run: the mesh's certificates (a CA and one per workload) in a temporary folder,
// named by CERTS_DIR for every test file and every service process the tests start.
import { createTestCertificates } from "@shop/platform/testing/certificates";

const WORKLOADS = ["order", "inventory", "payment", "notification", "gateway", "operator"];

export default async function setup(): Promise<() => Promise<void>> {
  const certificates = await createTestCertificates(WORKLOADS);
  process.env.CERTS_DIR = certificates.dir;
  return () => certificates.remove();
}

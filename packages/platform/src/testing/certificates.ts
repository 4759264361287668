import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientOptions } from "../client/create-client.js";
import {
  type CertificateRequest,
  createCertificateAuthority,
  ensureDevelopmentCertificates,
  issueCertificate,
  loadAuthority,
  writeWorkloadFiles,
} from "../tls/development-ca.js";
import { loadMeshTlsConfig, type MeshTlsConfig } from "../tls/mesh-tls.js";

/** The trust domain of test certificates. */
export const TEST_TRUST_DOMAIN = "shop.mesh";

/** A folder of test certificates: a CA and one per workload, in the layout services read (`<dir>/<workload>/tls.crt`). */
export interface TestCertificates {
  dir: string;
  /** Removes the folder. */
  remove(): Promise<void>;
}

/** Makes a CA and a certificate for each workload in a new temporary folder. */
export async function createTestCertificates(workloads: readonly string[]): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), "mesh-certs-"));
  await ensureDevelopmentCertificates({ dir, trustDomain: TEST_TRUST_DOMAIN, workloads });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The certificate folder of this test run (CERTS_DIR, set by the test run's global set-up). */
export function testCertificatesDir(): string {
  const dir = process.env.CERTS_DIR;
  if (!dir) throw new Error("CERTS_DIR is not set: the test run's global set-up makes the mesh certificates");
  return dir;
}

/** The PEM files of `workload`'s test certificate, for tools (buf curl, grpcurl, Python grpcio, raw grpc-js). */
export function testCertificateFiles(workload: string): { ca: string; cert: string; key: string } {
  const dir = join(testCertificatesDir(), workload);
  return { ca: join(dir, "ca.crt"), cert: join(dir, "tls.crt"), key: join(dir, "tls.key") };
}

/** The mesh TLS settings of `workload` with this run's test certificates. */
export function testTls(workload: string): MeshTlsConfig {
  return loadMeshTlsConfig(workload, testCertificatesDir(), { CERTS_DIR: testCertificatesDir() });
}

/** Client options that call as `workload` (its test certificate), expecting the server to be `server` when given. */
export function callingAs(workload: string, server?: string): Pick<ClientOptions, "mesh"> {
  return { mesh: { tls: testTls(workload), ...(server ? { server } : {}) } };
}

/**
 * A certificate that must NOT work, in a folder of its own: `expired` (valid yesterday), or
 * `foreign` (a workload name signed by another CA). Returns the folder (`tls.crt`, `tls.key`, `ca.crt`).
 */
export async function untrustedCertificate(kind: "expired" | "foreign", workload: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `mesh-${kind}-`));
  const request: CertificateRequest = { trustDomain: TEST_TRUST_DOMAIN, workload, dnsNames: ["localhost"] };
  const ca = kind === "foreign" ? await createCertificateAuthority("another CA") : await loadAuthority(join(testCertificatesDir(), "ca"));
  if (!ca) throw new Error(`no test CA in ${testCertificatesDir()}`);
  const day = 24 * 60 * 60 * 1000;
  const issued = await issueCertificate(
    ca,
    kind === "expired" ? { ...request, notBefore: new Date(Date.now() - 2 * day), notAfter: new Date(Date.now() - day) } : request,
  );
  // It trusts the real mesh CA: only its own certificate is what is wrong.
  await writeWorkloadFiles(dir, issued, await readFile(join(testCertificatesDir(), "ca", "ca.crt"), "utf8"));
  return dir;
}

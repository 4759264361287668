// `npm run certs` (and every `npm start`): makes sure `.certs/` holds the development CA and a
// certificate per workload of the mesh, issuing or re-issuing what is missing, invalid or near its
// expiry. Production mounts certificates from cert-manager or Secrets instead (README: Trust).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The mesh's workloads: the four services, the gateway, and the operator identity tools use (e.g. to restock). */
export const WORKLOADS = ["order", "inventory", "payment", "notification", "gateway", "operator"];
/** The SPIFFE trust domain of the development mesh: `spiffe://shop.mesh/<workload>`. */
export const TRUST_DOMAIN = "shop.mesh";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Ensures the development certificates in `dir` (default `<repo>/.certs`); returns what it issued. */
export async function ensureCertificates(dir = process.env.CERTS_DIR || join(root, ".certs")) {
  const { ensureDevelopmentCertificates } = await import("@shop/platform/tls");
  const report = await ensureDevelopmentCertificates({ dir, trustDomain: TRUST_DOMAIN, workloads: WORKLOADS });
  return { dir, ...report };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { dir, newAuthority, issued } = await ensureCertificates();
  if (newAuthority) console.log(`[certs] new development CA in ${join(dir, "ca")}`);
  console.log(
    issued.length > 0 ? `[certs] issued ${issued.join(", ")} in ${dir}` : `[certs] every workload certificate in ${dir} is valid`,
  );
}

// Clients of a benchmark mesh: over mTLS as a workload of the mesh when the mesh runs with
// certificates, plaintext when it runs with MESH_TLS=off.

/** createClient options that call as `workload` with the mesh's certificates in `certsDir` (none: plaintext). */
export async function meshClientOptions(certsDir, workload, server) {
  if (!certsDir) return {};
  const { loadMeshTlsConfig } = await import("@shop/platform");
  return { mesh: { tls: loadMeshTlsConfig(workload, certsDir, { CERTS_DIR: certsDir }), ...(server ? { server } : {}) } };
}

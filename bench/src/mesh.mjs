// Starts the real mesh for benchmarks, as gateway/test/mesh.ts does for tests: every service and the
// gateway as `node <dist>/main.js` child processes on free loopback ports, each service with its
// own throwaway PostgreSQL database (db: "postgres") or a fresh embedded PGlite data directory
// (db: "pglite"), a unique RabbitMQ prefix, and (tls: true, the default) its own mesh certificates,
// so every hop is mTLS as in production; records each process's time from spawn to /readyz OK.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestCertificates } from "@shop/platform/testing/certificates";
import { createTestDatabase } from "@shop/platform/testing/postgres";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import { stopChild } from "./processes.mjs";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const SERVICES = ["inventory", "payment", "notification", "order"];

/** A free loopback port: bind port 0, read it, release it. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const mainOf = (name) => (name === "gateway" ? "gateway/dist/main.js" : `services/${name}/dist/main.js`);

/** Throws naming the missing builds unless every process to start has a dist/main.js. */
export function assertBuilt(names) {
  const missing = names.map(mainOf).filter((file) => !existsSync(join(repoRoot, file)));
  if (missing.length > 0) throw new Error(`build first (npm run build); missing: ${missing.join(", ")}`);
}

/**
 * Starts `names` (default: the four services and the gateway) and resolves when every one answers
 * /readyz with 200. `env` is added to every process; `perProcessEnv[name]` to one, and `nodeArgs[name]`
 * are node flags for one (e.g. --cpu-prof). Returns { processes: {name: {child, port, adminPort, readyMs}}, coldStartMs,
 * databases, gatewayUrl, address(name), stop() }. `dataDir` (PGlite) reuses a directory a previous mesh
 * left, and is then kept; by default a fresh one is made and removed by stop(). `tls: false` runs
 * the mesh in plaintext (MESH_TLS=off) for loads whose tool cannot present a client certificate (h2load).
 * The result's `certsDir` holds the workload certificates (`<certsDir>/gateway/tls.crt`, …) for clients.
 */
export async function startMesh(options = {}) {
  // Ports are picked before the processes start (each needs the others' addresses), so one can be
  // taken in between — by an outgoing connection's ephemeral source port, say. Then start again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startMeshOnce(options);
    } catch (error) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(error?.message))) throw error;
      console.error(`  mesh: a picked port was taken before its process bound it; starting the mesh again (attempt ${attempt + 1})`);
    }
  }
}

async function startMeshOnce({
  db = "postgres",
  names = [...SERVICES, "gateway"],
  env = {},
  perProcessEnv = {},
  nodeArgs = {},
  timeoutMs = 240_000,
  dataDir: keptDataDir,
  tls = true,
} = {}) {
  assertBuilt(names);
  const certificates = tls ? await createTestCertificates([...SERVICES, "gateway", "operator"]) : undefined;
  const dataDir = keptDataDir ?? (await mkdtemp(join(tmpdir(), "shop-bench-mesh-")));
  const rabbit = rabbitTestScope("bench");
  const ports = {};
  for (const name of [...SERVICES, "gateway"]) ports[name] = { port: await freePort(), admin: await freePort() };
  const address = (name) => `127.0.0.1:${ports[name].port}`;
  const common = {
    ...process.env,
    HOST: "127.0.0.1",
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
    AMQP_PREFIX: rabbit.prefix,
    ORDER_URL: address("order"),
    INVENTORY_URL: address("inventory"),
    PAYMENT_URL: address("payment"),
    NOTIFICATION_URL: address("notification"),
    OTEL_TRACES_EXPORTER: "none",
    ...(certificates ? { CERTS_DIR: certificates.dir, MESH_TLS: "on" } : { MESH_TLS: "off" }),
    ...env,
  };
  for (const key of ["DATABASE_URL", "DATA_DIR", ...SERVICES.map((name) => `${name.toUpperCase()}_DATABASE_URL`)]) delete common[key];
  for (const name of [...SERVICES, "gateway"]) {
    const upper = name.toUpperCase();
    common[`${upper}_PORT`] = String(ports[name].port);
    common[`${upper}_ADMIN_PORT`] = String(ports[name].admin);
    common[`${upper}_DATA_DIR`] = join(dataDir, name);
  }
  const databases = {};
  if (db === "postgres") {
    await Promise.all(
      names.filter((n) => n !== "gateway").map(async (name) => (databases[name] = await createTestDatabase(`bench_${name}`))),
    );
  }
  const processes = {};
  const stop = async () => {
    await Promise.all(Object.values(processes).map(({ child }) => stopChild(child)));
    await Promise.all(Object.values(databases).map((d) => d.drop().catch(() => undefined)));
    await rabbit.cleanup().catch(() => undefined);
    if (!keptDataDir) await rm(dataDir, { recursive: true, force: true });
    await certificates?.remove();
  };
  const started = performance.now();
  try {
    for (const name of names) {
      const own = databases[name] ? { [`${name.toUpperCase()}_DATABASE_URL`]: databases[name].url } : {};
      const child = spawn(process.execPath, [...(nodeArgs[name] ?? []), join(repoRoot, mainOf(name))], {
        cwd: repoRoot,
        env: { ...common, ...own, ...(perProcessEnv[name] ?? {}) },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const output = [];
      const keep = (chunk) => {
        output.push(chunk.toString());
        if (output.length > 200) output.splice(0, 100);
      };
      child.stdout.on("data", keep);
      child.stderr.on("data", keep);
      processes[name] = { child, port: ports[name].port, adminPort: ports[name].admin, readyMs: NaN, output };
    }
    await Promise.all(names.map((name) => waitReady(name, processes[name], started, timeoutMs)));
  } catch (error) {
    await stop();
    throw error;
  }
  const coldStartMs = performance.now() - started;
  const certsDir = certificates?.dir;
  return { processes, coldStartMs, databases, address, certsDir, gatewayUrl: `http://127.0.0.1:${ports.gateway.port}`, stop };
}

async function waitReady(name, proc, started, timeoutMs) {
  const deadline = started + timeoutMs;
  while (performance.now() < deadline) {
    if (proc.child.exitCode !== null)
      throw new Error(`${name} exited with ${proc.child.exitCode} before it was ready:\n${proc.output.join("").slice(-3000)}`);
    const ok = await fetch(`http://127.0.0.1:${proc.adminPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) {
      proc.readyMs = performance.now() - started;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${name} was not ready within ${timeoutMs} ms:\n${proc.output.join("").slice(-3000)}`);
}

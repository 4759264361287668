// Drives docker-compose.yml as a user does, through the engine's own compose command (podman-compose here):
// the stand-in base images, the project image, the real secrets flow, a compose project of this run's own
// (unique name, free host ports, nothing published on PostgreSQL's or RabbitMQ's host ports), readiness
// waited for by asking each service itself, and a teardown that leaves nothing behind.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** The stack docker-compose.yml runs, minus Envoy (started only when its image is present) and other profiles. */
export const SERVICES = ["postgres", "postgres-init", "rabbitmq", "inventory", "payment", "notification", "order", "gateway"];
/** The Node processes of the mesh and their admin ports inside the network (docker-compose.yml). */
export const NODE_SERVICES: Record<string, number> = { inventory: 9052, payment: 9053, notification: 9054, order: 9051, gateway: 9080 };
export const IMAGE = "shop-mesh:dev";
export const ENVOY_IMAGE = "envoyproxy/envoy:v1.31-latest";
/** What Debian bookworm's PostgreSQL stand-in is tagged (docker-compose.yml's POSTGRES_IMAGE). */
export const POSTGRES_STANDIN = "postgres:15";

export interface Engine {
  engine: string;
  compose: string[];
}

/** Output of a command, with its stderr in the error when it fails. */
export async function sh(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  try {
    const { stdout } = await run(command, args, {
      cwd: repoRoot,
      env: options.env ?? process.env,
      timeout: options.timeoutMs ?? 600_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    const output = `${failed.stdout ?? ""}\n${failed.stderr ?? ""}`.trim().slice(-4000);
    throw new Error(`${command} ${args.join(" ")} failed: ${failed.message.split("\n")[0]}\n${output}`);
  }
}

/** Builds the project image (`--target runtime`, layer cache kept between runs); returns its size in bytes. */
export async function buildImage({ engine }: Engine): Promise<number> {
  // podman writes OCI images by default, which have no HEALTHCHECK: the docker format keeps it.
  const format = engine === "podman" ? ["--format", "docker", "--pull=never"] : [];
  await sh(engine, ["build", ...format, "--target", "runtime", "-t", IMAGE, "."], { timeoutMs: 1_800_000 });
  return Number((await sh(engine, ["image", "inspect", "--format", "{{.Size}}", IMAGE])).trim());
}

/** Builds the Envoy image (`--target envoy`): only where the envoyproxy/envoy base image is present. */
export async function buildEnvoyImage({ engine }: Engine): Promise<void> {
  const format = engine === "podman" ? ["--format", "docker", "--pull=never"] : [];
  await sh(engine, ["build", ...format, "--target", "envoy", "-t", "shop-mesh-envoy:dev", "."], { timeoutMs: 1_800_000 });
}

export async function imageExists({ engine }: Engine, image: string): Promise<boolean> {
  return run(engine, ["image", "inspect", image]).then(
    () => true,
    () => false,
  );
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class Stack {
  readonly project = `shopmesh${randomBytes(4).toString("hex")}`;
  /** This run's mesh certificates (keys readable by the image's node group: scripts/compose-secrets.mjs). */
  readonly certsDir = mkdtempSync(join(tmpdir(), "compose-stack-certs-"));
  gatewayPort = 0;
  envoyPort = 0;
  secret = "";
  private env: NodeJS.ProcessEnv = {};
  private started = false;

  constructor(readonly engine: Engine) {
    chmodSync(this.certsDir, 0o755);
  }

  get gatewayUrl(): string {
    return `http://127.0.0.1:${this.gatewayPort}`;
  }

  /** `npm run compose:secrets`' script: .env and .secrets/ in the repository (kept if there), certificates here. */
  async writeSecrets(): Promise<void> {
    await sh("npm", ["run", "-s", "compose:secrets"], { env: { ...process.env, CERTS_DIR: this.certsDir } });
    const line = /^GATEWAY_JWT_SECRET=(.+)$/m.exec(readFileSync(join(repoRoot, ".env"), "utf8"));
    if (!line?.[1]) throw new Error(".env holds no GATEWAY_JWT_SECRET after compose:secrets");
    this.secret = line[1];
  }

  async up(services: string[]): Promise<void> {
    this.gatewayPort = await freePort();
    this.envoyPort = await freePort();
    this.env = {
      ...process.env,
      CERTS_DIR: this.certsDir,
      POSTGRES_IMAGE: POSTGRES_STANDIN,
      GATEWAY_HOST_PORT: `${this.gatewayPort}`,
      GATEWAY_ADMIN_HOST_PORT: `${await freePort()}`,
      RABBITMQ_MANAGEMENT_HOST_PORT: `${await freePort()}`,
      ENVOY_HOST_PORT: `${this.envoyPort}`,
      ENVOY_ADMIN_HOST_PORT: `${await freePort()}`,
    };
    this.started = true;
    await this.compose(["up", "-d", "--no-build", ...services]);
  }

  compose(args: string[]): Promise<string> {
    const [command, ...prefix] = this.engine.compose;
    return sh(command!, [...prefix, "-p", this.project, "-f", "docker-compose.yml", ...args], { env: this.env, timeoutMs: 300_000 });
  }

  /** The container of a service, found by the compose labels both podman-compose and Docker Compose set. */
  async container(service: string): Promise<string> {
    const names = await sh(this.engine.engine, [
      "ps",
      "-a",
      "--filter",
      `label=com.docker.compose.project=${this.project}`,
      "--filter",
      `label=com.docker.compose.service=${service}`,
      "--format",
      "{{.Names}}",
    ]);
    const name = names.trim().split("\n")[0];
    if (!name) throw new Error(`no container for service ${service} in ${this.project}`);
    return name;
  }

  async engineRun(args: string[], timeoutMs?: number): Promise<string> {
    return sh(this.engine.engine, args, { timeoutMs });
  }

  /** A query as the PostgreSQL superuser, inside the postgres container (the database is not published). */
  async sql(database: string, query: string): Promise<string[][]> {
    const postgres = await this.container("postgres");
    const out = await sh(this.engine.engine, ["exec", postgres, "psql", "-U", "postgres", "-d", database, "-AtF", "\t", "-c", query]);
    return out
      .trim()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => line.split("\t"));
  }

  /** True when the service answers its own /readyz inside its container (what its HEALTHCHECK runs). */
  async ready(service: string): Promise<boolean> {
    const port = NODE_SERVICES[service];
    const probe = `fetch('http://127.0.0.1:${port}/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
    return run(this.engine.engine, ["exec", await this.container(service), "node", "-e", probe], { timeout: 20_000 }).then(
      () => true,
      () => false,
    );
  }

  async waitReady(services: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const waiting = new Set(services);
    while (waiting.size > 0) {
      for (const service of [...waiting]) if (await this.ready(service)) waiting.delete(service);
      if (waiting.size === 0) return;
      if (Date.now() > deadline) {
        // The services' own logs, and the one-shot role set-up's and PostgreSQL's (a service refused by
        // PostgreSQL is explained there: once, postgres-init left three roles without their passwords).
        const logs = await Promise.all(
          [...waiting, "postgres-init", "postgres"].map(async (service) => `--- ${service}:\n${await this.logs(service)}`),
        );
        throw new Error(`not ready after ${timeoutMs / 1000} s: ${[...waiting].join(", ")}\n${logs.join("\n")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  async logs(service: string, lines = 40): Promise<string> {
    try {
      const container = await this.container(service);
      const { stdout, stderr } = await run(this.engine.engine, ["logs", "--tail", `${lines}`, container]);
      return `${stdout}${stderr}`;
    } catch (error) {
      return `(no logs: ${(error as Error).message.split("\n")[0]})`;
    }
  }

  /**
   * `down` with volumes, then whatever an engine leaves behind: podman-compose 1.0.3 keeps the network and
   * the images' anonymous volumes (RabbitMQ's), and stops nothing it does not know about.
   */
  async down(): Promise<void> {
    const { engine } = this.engine;
    const label = `label=com.docker.compose.project=${this.project}`;
    const ids = (await sh(engine, ["ps", "-aq", "--filter", label]).catch(() => "")).split("\n").filter(Boolean);
    const anonymous = ids.length
      ? (
          await sh(engine, ["inspect", "--format", '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}', ...ids]).catch(
            () => "",
          )
        )
          .split(/\s+/)
          .filter(Boolean)
      : [];
    const problems: string[] = [];
    if (this.started) await this.compose(["down", "-v", "-t", "2"]).catch((error: Error) => problems.push(error.message));
    const left = (await sh(engine, ["ps", "-aq", "--filter", label]).catch(() => "")).split("\n").filter(Boolean);
    if (left.length) await sh(engine, ["rm", "-f", "-v", ...left]).catch((error: Error) => problems.push(error.message));
    for (const volume of anonymous) await run(engine, ["volume", "rm", "-f", volume]).catch(() => undefined);
    const volumes = (await sh(engine, ["volume", "ls", "-q", "--filter", label]).catch(() => "")).split("\n").filter(Boolean);
    if (volumes.length) await sh(engine, ["volume", "rm", "-f", ...volumes]).catch((error: Error) => problems.push(error.message));
    const networks = (await sh(engine, ["network", "ls", "-q", "--filter", label]).catch(() => "")).split("\n").filter(Boolean);
    if (networks.length) await sh(engine, ["network", "rm", "-f", ...networks]).catch((error: Error) => problems.push(error.message));
    rmSync(this.certsDir, { recursive: true, force: true });
    if (problems.length) throw new Error(`teardown of ${this.project}: ${problems.join("\n")}`);
  }
}

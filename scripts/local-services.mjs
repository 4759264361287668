// The servers the tests talk to — RabbitMQ and PostgreSQL on this machine — started when they are installed but
// down (a rebooted dev box, a CI machine whose services died), so `npm test` needs nothing typed before it.
// Targets are the ones the tests use: AMQP_URL and TEST_DATABASE_ADMIN_URL (packages/platform/src/testing/), so a
// developer pointing them at another host is only told when it is unreachable; nothing remote is ever started.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { connect } from "node:net";
import { isExecutable, onPath } from "./find-executable.mjs";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/**
 * Makes sure RabbitMQ and PostgreSQL answer; starts a local one that is installed but down when `canStart`.
 * Resolves to the problems it could not fix, each a message for a person (empty when all is well).
 */
export async function ensureServices({ canStart, sudo }) {
  const rabbit = new URL(process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672");
  const postgres = new URL(process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres");
  const [rabbitProblem, postgresProblem] = await Promise.all([
    ensureServer({
      name: "RabbitMQ",
      host: rabbit.hostname,
      port: Number(rabbit.port || 5672),
      variable: "AMQP_URL",
      start: rabbitStart(),
      install: `${sudo}apt-get install -y rabbitmq-server`,
      canStart,
      sudo,
      // The broker opens its AMQP port only once it can take connections.
      isReady: (host, port) => reachable(host, port),
    }),
    ensureServer({
      name: "PostgreSQL",
      host: postgres.hostname,
      port: Number(postgres.port || 5432),
      variable: "TEST_DATABASE_ADMIN_URL",
      start: postgresStart(),
      install: `${sudo}apt-get install -y postgresql (the tests connect as user postgres without a password: trust auth for 127.0.0.1)`,
      canStart,
      sudo,
      // The port opens before recovery ends; pg_isready says when it accepts connections.
      isReady: async (host, port) => spawnSync("pg_isready", ["-q", "-h", host, "-p", String(port)]).status === 0,
    }),
  ]);
  return [rabbitProblem, postgresProblem].filter((problem) => problem !== undefined);
}

async function ensureServer({ name, host, port, variable, start, install, canStart, sudo, isReady }) {
  if (await reachable(host, port)) return undefined;
  const where = `${host}:${port}`;
  if (!LOOPBACK.has(host)) return `${name} is not reachable at ${where} (${variable}).`;
  if (!start) return `${name} is not reachable at ${where} and not installed here. Install it: ${install}`;
  const command = start.join(" ");
  if (!canStart) return `${name} is installed but not running on ${where}. Start it: ${sudo}${command}`;
  console.log(`[tools] ${name} is not running on ${where}: ${command}`);
  const began = Date.now();
  const started = spawnSync(start[0], start.slice(1), { encoding: "utf8" });
  if (started.status !== 0) return `${name} did not start (${command} exited ${started.status}):\n${started.stdout}${started.stderr}`;
  while (!(await isReady(host, port))) {
    if (Date.now() - began > 90_000) return `${name} was started (${command}) but is not ready on ${where} after 90 s.`;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  console.log(`[tools] ${name} is up in ${((Date.now() - began) / 1000).toFixed(1)} s`);
  return undefined;
}

/** `rabbitmq-server -detached` when the broker is installed (Debian puts it in /usr/sbin, not on a user's PATH). */
function rabbitStart() {
  const server = onPath("rabbitmq-server") ?? (isExecutable("/usr/sbin/rabbitmq-server") ? "/usr/sbin/rabbitmq-server" : undefined);
  return server ? [server, "-detached"] : undefined;
}

/** Debian's cluster start, for the newest installed version's `main` cluster; no systemd runs on these machines. */
function postgresStart() {
  if (!existsSync("/etc/postgresql") || !onPath("pg_ctlcluster")) return undefined;
  const versions = readdirSync("/etc/postgresql")
    .filter((version) => existsSync(`/etc/postgresql/${version}/main`))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? ["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main", "start"] : undefined;
}

/** Whether a TCP connection to host:port opens within 2 s. */
export function reachable(host, port) {
  return new Promise((resolve) => {
    const socket = connect({ host: host.replace(/^\[|\]$/g, ""), port, timeout: 2000 });
    const answer = (open) => {
      socket.destroy();
      resolve(open);
    };
    socket.on("connect", () => answer(true));
    socket.on("error", () => answer(false));
    socket.on("timeout", () => answer(false));
  });
}

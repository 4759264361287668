// Installs the workspace's dependencies when they are missing or older than the lockfile,
// so `npm start` and `npm test` work on a fresh clone with nothing typed before them.
import { execSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const lockfile = join(root, "package-lock.json");
const installed = join(root, "node_modules", ".package-lock.json");

const fresh = existsSync(installed) && statSync(installed).mtimeMs >= statSync(lockfile).mtimeMs;
if (!fresh) {
  // A fresh clone gets `npm ci`: exactly the committed lockfile, never rewritten, so the clone stays clean, and an
  // incomplete lockfile fails here, loudly, instead of being patched on one machine (scripts/check-lockfile.mjs).
  // An existing node_modules older than the lockfile (after a pull) gets `npm install`: it changes only what
  // differs, where `npm ci` would delete node_modules and download everything again.
  const command = existsSync(join(root, "node_modules")) ? "npm install" : "npm ci";
  console.log(`[deps] ${command} (dependencies missing or older than package-lock.json)`);
  execSync(`${command} --no-audit --no-fund`, { cwd: root, stdio: "inherit" });
  // On Linux x64/arm64 the install brings the project's Node (the optional node-linux-* package): npm scripts find it
  // first on PATH from here on, whatever Node started this one.
  const projectNode = join(root, "node_modules", ".bin", "node");
  if (existsSync(projectNode)) {
    const version = execSync(`"${projectNode}" --version`, { encoding: "utf8" }).trim();
    if (version !== process.version) console.log(`[deps] npm scripts run on Node ${version} from here on (node_modules/.bin/node)`);
  }
}

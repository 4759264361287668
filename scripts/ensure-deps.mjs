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
  // `npm install`, not `npm ci`: npm leaves other platforms' optional binaries (buf's) out of the
  // lockfile, which `npm ci` refuses; install still follows the lockfile for everything it holds.
  const command = "npm install";
  console.log(`[deps] ${command} (dependencies missing or older than package-lock.json)`);
  execSync(`${command} --no-audit --no-fund`, { cwd: root, stdio: "inherit" });
}

#!/usr/bin/env node
// `npm run test:containers` (the last step of `npm test`): runs scripts/test/containers/ with vitest when a container
// engine answers (podman, which `npm test` installs on Debian as root, or a Docker daemon); otherwise says why
// nothing ran. CONTAINERS_TEST=never skips it on purpose (said, too); =always makes a missing engine a failure.
import { spawnSync } from "node:child_process";
import { findContainerEngine } from "./engine.mjs";

const wanted = process.env.CONTAINERS_TEST ?? "auto";
if (wanted === "never") {
  console.log("[containers] CONTAINERS_TEST=never: the image build and the compose stack test were not run");
  process.exit(0);
}
const found = findContainerEngine();
if (!found) {
  const message = "[containers] no podman or Docker daemon answers here: the image build and the compose stack test were not run";
  if (wanted === "always") {
    console.error(`${message} (CONTAINERS_TEST=always)`);
    process.exit(1);
  }
  console.log(message);
  process.exit(0);
}
const result = spawnSync("npx", ["vitest", "run", "--config", "vitest.containers.config.ts", ...process.argv.slice(2)], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);

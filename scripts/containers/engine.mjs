// The container engine the tests and scripts drive: podman (what this kind of machine runs, as root), or a
// Docker whose daemon answers. A docker CLI without a daemon does not count.
import { spawnSync } from "node:child_process";
import { onPath } from "../find-executable.mjs";

/**
 * `{ engine, compose }` — the engine's command and the compose command (an array: ["podman-compose"] or
 * ["docker", "compose"] or ["docker-compose"]) — or undefined when no usable engine is present.
 */
export function findContainerEngine() {
  if (onPath("podman") && answers("podman", ["info", "--format", "{{.Host.OCIRuntime.Name}}"])) {
    if (onPath("podman-compose")) return { engine: "podman", compose: ["podman-compose"] };
    return undefined;
  }
  if (onPath("docker") && answers("docker", ["info", "--format", "{{.ServerVersion}}"])) {
    if (answers("docker", ["compose", "version"])) return { engine: "docker", compose: ["docker", "compose"] };
    if (onPath("docker-compose")) return { engine: "docker", compose: ["docker-compose"] };
  }
  return undefined;
}

function answers(command, args) {
  return spawnSync(command, args, { stdio: "ignore", timeout: 30_000 }).status === 0;
}

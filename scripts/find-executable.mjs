// Finding a program without running it: spawning `which` or `--version` for each tool would cost more
// than every other check of scripts/ensure-tools.mjs together.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** True when `path` is a file this process may execute. */
export function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The full path of `command` as the shell would find it on `PATH`, or undefined. */
export function onPath(command, path = process.env.PATH ?? "") {
  for (const dir of path.split(delimiter)) {
    if (dir && isExecutable(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isExecutable, onPath } from "../find-executable.mjs";

const script = new URL("../ensure-tools.mjs", import.meta.url).pathname;
const root = process.getuid?.() === 0;

/** Runs ensure-tools.mjs and resolves to its exit code and output, whatever the code. */
function ensureTools(env: NodeJS.ProcessEnv, asNobody = false): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, args] = asNobody
    ? ["/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, script]]
    : [process.execPath, [script]];
  return new Promise((resolve) => {
    execFile(command, args, { env, cwd: tmpdir(), timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe("scripts/ensure-tools.mjs", () => {
  // A PATH that holds rabbitmqctl and nothing else, so docker-compose (looked up on PATH) is the one tool missing.
  const bin = mkdtempSync(join(tmpdir(), "ensure-tools-"));
  chmodSync(bin, 0o755); // readable by nobody too
  const rabbitmqctl = onPath("rabbitmqctl") ?? "/usr/sbin/rabbitmqctl";
  if (isExecutable(rabbitmqctl)) symlinkSync(rabbitmqctl, join(bin, "rabbitmqctl"));
  const withoutDockerCompose = { ...process.env, PATH: bin, ENSURE_TOOLS_INSTALL: "never" };
  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  it("passes quietly when every tool and server is there", async () => {
    const result = await ensureTools({ ...process.env, ENSURE_TOOLS_INSTALL: "never" });
    expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("stops with the exact apt-get command when a tool is missing and installing is not allowed", async () => {
    const result = await ensureTools(withoutDockerCompose);
    expect(result.code).toBe(1);
    const sudo = root ? "" : "sudo ";
    expect(result.stderr).toContain(`npm test needs docker-compose.`);
    expect(result.stderr).toContain(`\n  ${sudo}apt-get update && ${sudo}apt-get install -y docker-compose\n`);
    expect(result.stdout).not.toContain("installing");
  });

  it("names podman's packages when it may not install them, without making them a requirement of npm test", async () => {
    const result = await ensureTools(withoutDockerCompose);
    const sudo = root ? "" : "sudo ";
    expect(result.stderr).toContain(
      `podman is not installed: npm run test:containers will not run. To run it: ${sudo}apt-get install -y podman runc podman-compose`,
    );
    // The failure is docker-compose's alone: the apt-get command it prints installs nothing else.
    expect(result.stderr).toMatch(/apt-get install -y docker-compose\n/);
  });

  const canDropRoot = root && isExecutable("/usr/bin/setpriv");
  it.runIf(canDropRoot)("tells a user who is not root to run apt-get with sudo, and runs nothing", async () => {
    const result = await ensureTools({ ...withoutDockerCompose, ENSURE_TOOLS_INSTALL: "" }, true);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("\n  sudo apt-get update && sudo apt-get install -y docker-compose\n");
    expect(result.stdout).toBe("");
  });
});

// Which Python can run the wire-compatibility test's grpcio client (gRPC C-core, a client we did not write).
// Debian's python3-grpcio installs into /usr/bin/python3, which is often not the python3 on PATH (pyenv, a venv),
// so both are asked — Debian's first: it is where `npm test` installs grpcio on Debian, and asking a pyenv shim
// costs ~0.4 s. Shared by scripts/ensure-tools.mjs and packages/platform/test/platform-wire.test.ts, so the check
// and the test can never disagree about which interpreter counts.
import { execFile } from "node:child_process";

const CANDIDATES = ["/usr/bin/python3", "python3"];
// find_spec, not `import grpc`: it answers in ~40 ms instead of ~300 ms; a broken build still fails the test itself.
const HAS_GRPC = "import importlib.util, sys; sys.exit(importlib.util.find_spec('grpc') is None)";

/** The first Python interpreter (path or command) that has the grpc module, or undefined when none has. */
export async function pythonWithGrpc() {
  for (const python of CANDIDATES) {
    const found = await new Promise((resolve) => execFile(python, ["-c", HAS_GRPC], { timeout: 10_000 }, (error) => resolve(!error)));
    if (found) return python;
  }
  return undefined;
}

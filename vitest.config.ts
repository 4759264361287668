import { defineConfig } from "vitest/config";

// One vitest run for every workspace. Tests talk to real servers, brokers and databases,
// so they get generous timeouts; files run in parallel across the machine's two cores.
export default defineConfig({
  test: {
    include: [
      "packages/*/test/**/*.test.ts",
      "services/*/test/**/*.test.ts",
      "gateway/test/**/*.test.ts",
      "web/test/**/*.test.ts",
      "scripts/test/**/*.test.ts",
      "deploy/k8s/test/**/*.test.ts",
    ],
    globalSetup: ["./vitest.global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});

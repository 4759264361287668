import { defineConfig } from "vitest/config";

// `npm run test:containers` (scripts/containers/run-tests.mjs): the image built and the compose stack run. Its own
// run, after the main suite: it needs the machine's cores for the build, and minutes, not seconds.
export default defineConfig({
  test: {
    include: ["scripts/test/containers/**/*.containers.ts"],
    // A fresh machine builds the stand-in images and the project image first (measured ~10 min cold).
    hookTimeout: 40 * 60_000,
    testTimeout: 10 * 60_000,
    fileParallelism: false,
    reporters: ["default"],
  },
});

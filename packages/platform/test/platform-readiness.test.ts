// A process that starts before its dependencies are up says SERVING soon after they are, not a whole
// readiness interval later: until its first SERVING it checks every 100 ms; after that, every interval.
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "@shop/contracts/grpc/health/v1/health_pb";
import { afterAll, describe, expect, it } from "vitest";
import { createClient, type RunningServer } from "../src/index.js";
import { callingAs } from "../src/testing/certificates.js";
import { waitFor } from "../src/testing/wait.js";
import { inventoryRegistration, startServer } from "./inventory-fixture.js";

const INTERVAL_MS = 60_000; // far beyond the test's waits: only the start-up checks can be seen

describe("readiness at start", () => {
  let server: RunningServer | undefined;
  afterAll(async () => server?.shutdown());

  it("turns SERVING once the dependency is up, checking often until then, then only every interval", async () => {
    let dependencyUp = false;
    let checks = 0;
    const readiness = {
      database: async () => {
        checks++;
        return dependencyUp;
      },
    };
    server = await startServer([inventoryRegistration()], { readiness }, { READINESS_INTERVAL_MS: String(INTERVAL_MS) });
    const health = createClient(Health, server.address, { ...callingAs("gateway"), breaker: false });
    try {
      expect((await health.check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);
      await waitFor(() => checks >= 3, { what: "three start-up readiness checks" });
      dependencyUp = true;
      await waitFor(async () => (await health.check({ service: "" })).status === ServingStatus.SERVING, {
        what: "SERVING well within one readiness interval",
      });
      const checksWhenServing = checks;
      dependencyUp = false;
      // Serving once, the process is back on the interval: several start-up periods pass without a check.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(checks).toBe(checksWhenServing);
      expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    } finally {
      health.close();
    }
  });
});

import { readFileSync } from "node:fs";
import { type ClientHttp2Session, connect } from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadServiceConfig, type RunningServer } from "../src/index.js";
import { testCertificateFiles, testCertificatesDir } from "../src/testing/certificates.js";
import { inventoryRegistration, startServer } from "./inventory-fixture.js";

/** An HTTP/2 session to a platform server over mTLS, as the gateway workload. */
function session(server: RunningServer): Promise<ClientHttp2Session> {
  const files = testCertificateFiles("gateway");
  return new Promise((resolve, reject) => {
    const client = connect(`https://${server.address}`, {
      cert: readFileSync(files.cert),
      key: readFileSync(files.key),
      ca: readFileSync(files.ca),
      servername: "localhost",
    });
    client.once("remoteSettings", () => resolve(client));
    client.once("error", reject);
  });
}

describe("connection limits of every grpc-js server", () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it("announces GRPC_MAX_CONCURRENT_STREAMS (default 1000) in its HTTP/2 SETTINGS", async () => {
    server = await startServer([inventoryRegistration()]);
    const byDefault = await session(server);
    expect(byDefault.remoteSettings.maxConcurrentStreams).toBe(1_000);
    byDefault.close();
    await server.shutdown();
    server = await startServer([inventoryRegistration()], {}, { GRPC_MAX_CONCURRENT_STREAMS: "7" });
    const configured = await session(server);
    expect(configured.remoteSettings.maxConcurrentStreams).toBe(7);
    configured.close();
  });

  it("sends GOAWAY once a connection is older than GRPC_MAX_CONNECTION_AGE_MS, so clients reconnect", async () => {
    server = await startServer(
      [inventoryRegistration()],
      {},
      { GRPC_MAX_CONNECTION_AGE_MS: "300", GRPC_MAX_CONNECTION_AGE_GRACE_MS: "300" },
    );
    const aged = await session(server);
    const goaway = await new Promise<number>((resolve) => aged.once("goaway", (code: number) => resolve(code)));
    expect(goaway).toBe(0); // NO_ERROR: a graceful "reconnect elsewhere", not a failure
    aged.destroy();
  });

  it("reads the limits from the environment, 30 min age and 15 min grace by default, and names a bad variable", () => {
    const load = (env: Record<string, string>) =>
      loadServiceConfig("inventory", { port: 0, adminPort: 0, certRoot: testCertificatesDir() }, env).connections;
    expect(load({})).toEqual({ maxConcurrentStreams: 1_000, maxConnectionAgeMs: 1_800_000, maxConnectionAgeGraceMs: 900_000 });
    expect(load({ GRPC_MAX_CONNECTION_AGE_MS: "0" }).maxConnectionAgeMs).toBe(0);
    expect(() => load({ GRPC_MAX_CONCURRENT_STREAMS: "0" })).toThrow(ConfigError);
    expect(() => load({ GRPC_MAX_CONNECTION_AGE_MS: "soon" })).toThrow(/GRPC_MAX_CONNECTION_AGE_MS/);
  });
});

// What `npm run compose:secrets` writes for RabbitMQ and Envoy, checked against the real broker and
// against the token library the gateway uses: a broker user logs in with the hash it wrote, and may
// touch only its own names; Envoy's JWKS verifies the gateway's tokens.
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ensureDevelopmentCertificates } from "@shop/platform/tls";
import { connect } from "amqplib";
import { importJWK, jwtVerify, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { CONTAINER_GID, hs256Jwks, rabbitDefinitions, shareKeysWithContainer } from "../compose-secrets.mjs";

const run = promisify(execFile);

describe("compose secrets", () => {
  it("writes RabbitMQ users whose password hashes log in, with permissions on their own names only", async () => {
    const passwords = {
      RABBITMQ_ADMIN_PASSWORD: "a",
      ORDER_AMQP_PASSWORD: randomBytes(8).toString("hex"),
      NOTIFICATION_AMQP_PASSWORD: "n",
    };
    const definitions = rabbitDefinitions(passwords);
    // Import only the order user, under a name of this test's own, on the shared local broker.
    const name = `test-order-${randomBytes(4).toString("hex")}`;
    const user = { ...definitions.users.find((u) => u.name === "order")!, name };
    const permission = { ...definitions.permissions.find((p) => p.user === "order")!, user: name };
    // rabbitmqctl reads the file as the broker's own user: world-readable, like a mounted definitions file.
    const dir = mkdtempSync(join(tmpdir(), "rabbit-defs-"));
    chmodSync(dir, 0o755);
    const file = join(dir, "definitions.json");
    writeFileSync(file, JSON.stringify({ users: [user], permissions: [permission] }), { mode: 0o644 });
    await run("rabbitmqctl", ["-q", "import_definitions", file]);
    try {
      const connection = await connect(`amqp://${name}:${passwords.ORDER_AMQP_PASSWORD}@127.0.0.1:5672`);
      const channel = await connection.createChannel();
      channel.on("error", () => undefined);
      // Declaring a queue of its own making is not order's to do: the broker refuses and closes the channel.
      const refused = await channel.assertQueue(`${name}.q`, { autoDelete: true }).then(
        () => undefined,
        (error: Error) => error,
      );
      expect(refused?.message).toMatch(/ACCESS_REFUSED/);
      await connection.close();
      const wrong = await connect(`amqp://${name}:wrong@127.0.0.1:5672`).then(
        (c) => c.close().then(() => undefined),
        (error: Error) => error,
      );
      expect(wrong?.message).toMatch(/ACCESS_REFUSED|PLAIN/);
    } finally {
      await run("rabbitmqctl", ["-q", "delete_user", name]);
    }
  });

  it("gives Envoy a JWKS that verifies the tokens the gateway's secret signs", async () => {
    const secret = randomBytes(32).toString("base64url");
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(secret));
    const [key] = hs256Jwks(secret).keys;
    const { payload } = await jwtVerify(token, await importJWK(key!, "HS256"), { algorithms: ["HS256"] });
    expect(payload.sub).toBe("alice");
  });

  // A bind mount keeps the host's owner and mode: a 0600 key written by root is unreadable to the image's `node`
  // user (uid/gid 1000), and every service in docker-compose.yml failed to start with EACCES on it.
  it.runIf(process.getuid?.() === 0)("makes each mounted key readable by the container's node group and by no one else", async () => {
    const dir = mkdtempSync(join(tmpdir(), "compose-certs-"));
    chmodSync(dir, 0o755);
    try {
      await ensureDevelopmentCertificates({ dir, trustDomain: "shop.mesh", workloads: ["order", "gateway"] });
      const key = join(dir, "order", "tls.key");
      const readAs = (id: number) =>
        spawnSync(process.execPath, ["-e", `require("node:fs").readFileSync(${JSON.stringify(key)})`], { uid: id, gid: id }).status;
      expect(readAs(CONTAINER_GID)).not.toBe(0);
      expect(shareKeysWithContainer(dir, ["order", "gateway"])).toEqual([]);
      expect(readAs(CONTAINER_GID)).toBe(0);
      expect(readAs(CONTAINER_GID + 1)).not.toBe(0);
      expect(statSync(key).mode & 0o777).toBe(0o640);
      // The CA's key is never mounted and stays private.
      expect(statSync(join(dir, "ca", "ca.key")).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

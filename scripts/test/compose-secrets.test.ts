// What `npm run compose:secrets` writes for RabbitMQ and Envoy, checked against the real broker and
// against the token library the gateway uses: a broker user logs in with the hash it wrote, and may
// touch only its own names; Envoy's JWKS verifies the gateway's tokens.
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { commandTopology, connectMessaging, deadLetterQueue } from "@shop/platform/messaging";
import { ensureDevelopmentCertificates } from "@shop/platform/tls";
import { connect } from "amqplib";
import { importJWK, jwtVerify, SignJWT } from "jose";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { CONTAINER_GID, hs256Jwks, rabbitDefinitions, shareKeysWithContainer } from "../compose-secrets.mjs";

const run = promisify(execFile);

describe("compose secrets", () => {
  it("writes RabbitMQ users whose password hashes log in, with permissions on their own names only", async () => {
    const passwords = {
      RABBITMQ_ADMIN_PASSWORD: "a",
      ORDER_AMQP_PASSWORD: randomBytes(8).toString("hex"),
      NOTIFICATION_AMQP_PASSWORD: "n",
      CONSOLE_AMQP_PASSWORD: "c",
    };
    const definitions = rabbitDefinitions(passwords);
    // Import only the order user, under a name of this test's own, on the shared local broker.
    const name = `test-order-${randomBytes(4).toString("hex")}`;
    const user = { ...definitions.users.find((u) => u.name === "order")!, name };
    expect(definitions.permissions.find((p) => p.user === "order")?.write).toBe("^(shop\\.events|amq\\.gen-.*)$");
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
      // What order does need: publish to shop.events, and bind a broker-named exclusive queue of its own to it.
      const events = await connection.createConfirmChannel();
      await events.assertExchange("shop.events", "topic", { durable: true });
      const { queue } = await events.assertQueue("", { exclusive: true, autoDelete: true, durable: false });
      await events.bindQueue(queue, "shop.events", "shop.order.v1.OrderConfirmed");
      await new Promise<void>((resolve, reject) =>
        events.publish("shop.events", "test.compose-secrets", Buffer.from("x"), {}, (error: unknown) =>
          error ? reject(error) : resolve(),
        ),
      );
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

  it("lets the console's broker user list, replay and purge a dead-letter queue, and nothing more", async () => {
    const password = randomBytes(8).toString("hex");
    const definitions = rabbitDefinitions({
      RABBITMQ_ADMIN_PASSWORD: "a",
      ORDER_AMQP_PASSWORD: "o",
      NOTIFICATION_AMQP_PASSWORD: "n",
      CONSOLE_AMQP_PASSWORD: password,
    });
    const name = `test-console-${randomBytes(4).toString("hex")}`;
    const user = { ...definitions.users.find((u) => u.name === "console")!, name };
    const permission = { ...definitions.permissions.find((p) => p.user === "console")!, user: name };
    const dir = mkdtempSync(join(tmpdir(), "rabbit-defs-"));
    chmodSync(dir, 0o755);
    const file = join(dir, "definitions.json");
    writeFileSync(file, JSON.stringify({ users: [user], permissions: [permission] }), { mode: 0o644 });
    await run("rabbitmqctl", ["-q", "import_definitions", file]);
    // A queue and its DLQ as the mesh names them (shop.<…> and shop.<…>.dlq), made by the test's own broker user.
    const topology = commandTopology({ exchange: "", queue: `shop.${name}`, routingKey: "" });
    const admin = await connect(process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672");
    const setup = await admin.createConfirmChannel();
    await setup.assertQueue(topology.mainQueue);
    await setup.assertQueue(topology.deadLetterQueue);
    const deadLetter = () => setup.sendToQueue(topology.deadLetterQueue, Buffer.from("x"), { messageId: randomBytes(4).toString("hex") });
    const connection = connectMessaging({
      url: `amqp://${name}:${password}@127.0.0.1:5672`,
      connectionName: name,
      logger: pino({ level: "silent" }),
    });
    try {
      deadLetter();
      await setup.waitForConfirms();
      await connection.waitForConnect(10_000);
      const dlq = deadLetterQueue(connection, topology);
      expect(await dlq.list()).toHaveLength(1);
      expect(await dlq.replay("all")).toBe(1);
      expect((await setup.checkQueue(topology.mainQueue)).messageCount).toBe(1);
      deadLetter();
      await setup.waitForConfirms();
      expect(await dlq.purge()).toBe(1);
      // The main queue is not the console's to read.
      const reader = await connect(`amqp://${name}:${password}@127.0.0.1:5672`);
      const channel = await reader.createChannel();
      channel.on("error", () => undefined);
      const refused = await channel.get(topology.mainQueue).then(
        () => undefined,
        (error: Error) => error,
      );
      expect(refused?.message).toMatch(/ACCESS_REFUSED/);
      await reader.close();
    } finally {
      await connection.close();
      await setup.deleteQueue(topology.mainQueue);
      await setup.deleteQueue(topology.deadLetterQueue);
      await admin.close();
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

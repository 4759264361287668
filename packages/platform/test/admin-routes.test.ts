import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AdminServer, startAdminServer } from "../src/server/admin.js";

let admin: AdminServer;
const url = (path: string) => `http://127.0.0.1:${admin.port}${path}`;

beforeAll(async () => {
  admin = await startAdminServer({
    host: "127.0.0.1",
    port: 0,
    probes: { live: () => true, ready: () => true },
    logger: pino({ level: "silent" }),
    routes: (req, res) => {
      if (!req.url?.startsWith("/extra")) return false;
      res.writeHead(202, { "content-type": "text/plain" }).end(`extra ${req.method}`);
      return true;
    },
  });
});

afterAll(async () => {
  await admin?.close();
});

describe("the admin server's extra routes", () => {
  it("hands its own paths any method, and leaves every other path to the admin server", async () => {
    const extra = await fetch(url("/extra/thing"), { method: "POST", body: "{}" });
    expect([extra.status, await extra.text()]).toEqual([202, "extra POST"]);
    expect((await fetch(url("/readyz"))).status).toBe(200);
    expect(await (await fetch(url("/metrics"))).text()).toMatch(/^# HELP /m);
    // The admin server's own paths still change nothing.
    expect((await fetch(url("/metrics"), { method: "POST" })).status).toBe(405);
    expect((await fetch(url("/elsewhere"))).status).toBe(404);
  });
});

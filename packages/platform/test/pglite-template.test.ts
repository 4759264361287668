import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openPglite } from "../src/database/pglite.js";

const parents: string[] = [];
const newParent = () => {
  const parent = mkdtempSync(join(tmpdir(), "shop-pglite-template-"));
  parents.push(parent);
  return parent;
};
afterAll(() => {
  for (const parent of parents) rmSync(parent, { recursive: true, force: true });
});

describe("PGlite data directories made from one template", () => {
  it("gives four directories opened at once one initdb between them, each its own durable database", async () => {
    const parent = newParent();
    const names = ["inventory", "payment", "notification", "order"];
    const dbs = await Promise.all(names.map((name) => openPglite(join(parent, name))));
    await Promise.all(
      dbs.map(async (db, i) => {
        await db.query("CREATE TABLE owner (name TEXT PRIMARY KEY)");
        await db.query("INSERT INTO owner VALUES ($1)", [names[i]]);
        await db.close();
      }),
    );
    // One template, no lock and no staging directory left behind.
    expect(readdirSync(parent).sort()).toEqual([expect.stringMatching(/^\.pglite-template-\d/), ...[...names].sort()]);
    for (const name of names) {
      const db = await openPglite(join(parent, name));
      const { rows } = await db.query<{ name: string }>("SELECT name FROM owner");
      expect(rows).toEqual([{ name }]);
      await db.close();
    }
  });

  it("takes over a lock whose process is gone and clears a copy a crash left half-made", async () => {
    const parent = newParent();
    const dead = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => dead.on("exit", resolve));
    const pglite = createRequire(import.meta.url).resolve("@electric-sql/pglite");
    const { version } = JSON.parse(readFileSync(join(dirname(pglite), "..", "package.json"), "utf8")) as { version: string };
    writeFileSync(join(parent, `.pglite-template-${version}.lock`), String(dead.pid));
    mkdirSync(join(parent, "orders.initialising-1"), { recursive: true });
    writeFileSync(join(parent, "orders.initialising-1", "PG_VERSION"), "half");
    const db = await openPglite(join(parent, "orders"));
    expect((await db.query<{ one: number }>("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    await db.close();
    expect(readdirSync(parent).sort()).toEqual([`.pglite-template-${version}`, "orders"]);
  });

  it("leaves a directory that already holds files to PGlite, as before", async () => {
    const dataDir = join(newParent(), "kept");
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, "notes.txt"), "mine");
    const db = await openPglite(dataDir);
    await db.close();
    expect(existsSync(join(dataDir, "notes.txt"))).toBe(true);
    expect(existsSync(join(dataDir, "PG_VERSION"))).toBe(true);
    expect(readdirSync(join(dataDir, ".."))).toEqual(["kept"]);
  });

  it("keeps every committed row when the process is killed with SIGKILL (durability settings unchanged)", async () => {
    const dataDir = join(newParent(), "killed");
    const module = fileURLToPath(new URL("../dist/database/pglite.js", import.meta.url));
    // The built module in a child: it commits 50 rows one transaction at a time, says so, and is killed.
    const script = `const { openPglite } = await import(${JSON.stringify(module)});
const db = await openPglite(${JSON.stringify(dataDir)});
await db.query("CREATE TABLE rows (n INT PRIMARY KEY)");
for (let n = 1; n <= 50; n++) await db.transaction((tx) => tx.query("INSERT INTO rows VALUES ($1)", [n]));
process.stdout.write("committed\\n");
setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk) => String(chunk).includes("committed") && resolve());
      child.on("exit", (code) => reject(new Error(`child exited with ${code} before committing`)));
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));
    const db = await openPglite(dataDir);
    const { rows } = await db.query<{ count: bigint; max: number }>("SELECT count(*) AS count, max(n) AS max FROM rows");
    expect(rows).toEqual([{ count: 50n, max: 50 }]);
    await db.close();
  });
});

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Database, openDatabase } from "@shop/platform/database";
import { OUTBOX_TABLE_SQL } from "@shop/platform/messaging";

/** The notification service's database, in memory (PGlite), with its real migrations applied. */
export function notificationTestDatabase(): Promise<Database> {
  return openDatabase({ migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)) });
}

/** An in-memory database holding just the platform's outbox table, standing in for the order service's. */
export function outboxTestDatabase(): Promise<Database> {
  const dir = mkdtempSync(join(tmpdir(), "outbox-migrations-"));
  writeFileSync(join(dir, "001_outbox.sql"), OUTBOX_TABLE_SQL);
  return openDatabase({ migrationsDir: dir });
}

/** Polls `probe` until it returns something other than undefined/false. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

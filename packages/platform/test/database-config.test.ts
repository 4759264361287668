import { describe, expect, it } from "vitest";
import { describeDatabase, loadDatabaseConfig } from "../src/database/index.js";
import { ConfigError } from "../src/index.js";

const paths = { migrationsDir: "/srv/billing/migrations", dataRoot: "/srv/repo/.data" };

describe("loadDatabaseConfig", () => {
  it("uses <SERVICE>_DATABASE_URL as it is, before DATABASE_URL", () => {
    const config = loadDatabaseConfig("billing", paths, {
      BILLING_DATABASE_URL: "postgres://u:p@db:5432/ledger",
      DATABASE_URL: "postgres://u@other/x",
    });
    expect(config).toEqual({ url: "postgres://u:p@db:5432/ledger", migrationsDir: paths.migrationsDir });
  });

  it("puts each service in the database named after it on DATABASE_URL's server", () => {
    expect(loadDatabaseConfig("billing", paths, { DATABASE_URL: "postgres://u:p@db:5432/postgres?sslmode=require" }).url).toBe(
      "postgres://u:p@db:5432/billing?sslmode=require",
    );
    expect(loadDatabaseConfig("read-model", paths, { DATABASE_URL: "postgresql://db" }).url).toBe("postgresql://db/read_model");
  });

  it("falls back to embedded PGlite under the data root, <SERVICE>_DATA_DIR or DATA_DIR", () => {
    expect(loadDatabaseConfig("billing", paths, {})).toEqual({ dataDir: "/srv/repo/.data/billing", migrationsDir: paths.migrationsDir });
    expect(loadDatabaseConfig("billing", paths, { DATA_DIR: "/var/lib/mesh" }).dataDir).toBe("/var/lib/mesh/billing");
    expect(loadDatabaseConfig("billing", paths, { BILLING_DATA_DIR: "/tmp/b", DATA_DIR: "/var/lib/mesh" }).dataDir).toBe("/tmp/b");
    expect(loadDatabaseConfig("billing", paths, { BILLING_DATA_DIR: "" }).dataDir).toBeUndefined(); // in memory
    expect(loadDatabaseConfig("billing", paths, { BILLING_DATABASE_URL: "", DATABASE_URL: "" }).url).toBeUndefined();
  });

  it("stops start-up naming a variable that is not a postgres URL, without echoing its password", () => {
    expect(() => loadDatabaseConfig("billing", paths, { DATABASE_URL: "mysql://root:hunter2@db/x" })).toThrow(ConfigError);
    expect(() => loadDatabaseConfig("billing", paths, { BILLING_DATABASE_URL: "not a url" })).toThrow(
      /BILLING_DATABASE_URL must be a postgres:\/\/ URL/,
    );
    expect(() => loadDatabaseConfig("billing", paths, { DATABASE_URL: "mysql://root:hunter2@db/x" })).not.toThrow(/hunter2/);
  });

  it("describes where a database is for the logs, password hidden", () => {
    expect(describeDatabase({ url: "postgres://u:secret@db:5432/billing", migrationsDir: "m" })).toBe("postgres://u:***@db:5432/billing");
    expect(describeDatabase({ dataDir: "/d/billing", migrationsDir: "m" })).toBe("embedded PGlite in /d/billing");
    expect(describeDatabase({ migrationsDir: "m" })).toBe("embedded PGlite in memory");
  });
});

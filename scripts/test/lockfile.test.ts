import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { lockfileProblems } from "../check-lockfile.mjs";

const lock = JSON.parse(readFileSync(new URL("../../package-lock.json", import.meta.url), "utf8"));

describe("package-lock.json", () => {
  it("holds every dependency of every package, other platforms' optional binaries included, each with its integrity", () => {
    expect(lockfileProblems(lock)).toEqual([]);
  });

  it("is checked for real: a missing optional binary and a missing hash are named", () => {
    const broken = structuredClone(lock);
    const buf = broken.packages["node_modules/@bufbuild/buf"];
    const [binary] = Object.keys(buf.optionalDependencies);
    delete broken.packages[`node_modules/${binary}`];
    delete broken.packages["node_modules/pino"].integrity;
    expect(lockfileProblems(broken)).toEqual([
      `node_modules/@bufbuild/buf needs ${binary}, which the lockfile lacks`,
      "node_modules/pino has no integrity hash",
    ]);
  });
});

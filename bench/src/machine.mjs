// What the numbers were measured on: nproc, free -g, node, CPU model, load average.
import { execFileSync } from "node:child_process";
import { cpus, loadavg } from "node:os";

function sh(command, args) {
  try {
    return execFileSync(command, args, { encoding: "utf8" }).replace(/\s+$/, "");
  } catch {
    return "unavailable";
  }
}

/** A snapshot of the machine for the report. */
export function machineInfo() {
  return {
    nproc: sh("nproc", []),
    freeG: sh("free", ["-g"]),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    kernel: sh("uname", ["-sr"]),
    h2load: sh("/usr/bin/h2load", ["--version"]),
    loadAverageAtStart: loadavg().map((v) => Number(v.toFixed(2))),
  };
}

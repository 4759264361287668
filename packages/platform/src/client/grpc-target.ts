import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/** One address a target resolves to. */
export interface TargetAddress {
  host: string;
  port: number;
}

/** What a gRPC target names: fixed addresses (`ipv4:`/`ipv6:`, IP literals) or a name to resolve. */
export type ParsedTarget = { kind: "addresses"; addresses: TargetAddress[] } | { kind: "dns"; host: string; port: number };

function hostPort(text: string, target: string): TargetAddress {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const plain = /^([^:]+):(\d+)$/.exec(text);
  const found = bracketed ?? plain;
  if (!found) throw new Error(`gRPC target ${target}: expected host:port, got "${text}"`);
  return { host: found[1]!, port: Number(found[2]) };
}

/** Parses the gRPC target forms the mesh uses: `host:port`, `dns:///host:port`, `dns:host:port`, `ipv4:a:p,b:p`, `ipv6:[a]:p`. */
export function parseTarget(target: string): ParsedTarget {
  const list = /^ipv[46]:(.+)$/.exec(target);
  if (list) return { kind: "addresses", addresses: list[1]!.split(",").map((part) => hostPort(part, target)) };
  const name = /^dns:(?:\/\/[^/]*\/)?(.+)$/.exec(target)?.[1] ?? target;
  const { host, port } = hostPort(name, target);
  return isIP(host) ? { kind: "addresses", addresses: [{ host, port }] } : { kind: "dns", host, port };
}

/** Every address of a target (a name: all of its A and AAAA records, as grpc-js's DNS resolver). */
export async function resolveTarget(target: ParsedTarget): Promise<TargetAddress[]> {
  if (target.kind === "addresses") return target.addresses;
  const found = await lookup(target.host, { all: true });
  return found.map(({ address }) => ({ host: address, port: target.port }));
}

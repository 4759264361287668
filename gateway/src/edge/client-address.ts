import { BlockList, isIP } from "node:net";

/**
 * Which peers may say who the client is: the proxies in front of the gateway (an ingress
 * controller, a load balancer that terminates TCP), as addresses and CIDR ranges
 * (GATEWAY_TRUSTED_PROXIES, e.g. "10.0.0.0/8, 127.0.0.1"). Throws, naming the entry, on one that is
 * neither.
 */
export function trustedProxies(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", prefix, ...rest] = entry.split("/");
    const family = isIP(address);
    const bits = prefix === undefined ? undefined : /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
    if (family === 0 || rest.length > 0 || (bits !== undefined && !(bits <= (family === 6 ? 128 : 32)))) {
      throw new Error(`"${entry}" is not an IP address or a CIDR range`);
    }
    const type = family === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, bits, type);
  }
  return list;
}

/** An address as written in a socket or an X-Forwarded-For entry, reduced to what BlockList checks; undefined when it is none. */
function parse(raw: string): { address: string; type: "ipv4" | "ipv6" } | undefined {
  let text = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text); // "[2001:db8::1]:443"
  if (bracketed) text = bracketed[1] ?? "";
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(":")); // "203.0.113.7:443"
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text); // an IPv4 peer on a dual-stack socket
  if (mapped) text = mapped[1] ?? "";
  const family = isIP(text);
  if (family === 0) return undefined;
  return { address: text, type: family === 6 ? "ipv6" : "ipv4" };
}

/**
 * The address a call comes from, for per-caller limits: the socket's peer, unless that peer is a
 * trusted proxy — then X-Forwarded-For is read from its right end (the entry the nearest proxy
 * appended) leftwards, past every trusted proxy, to the first address that is not one. Entries
 * left of that are whatever the client chose to send and are never believed, so a caller cannot
 * pick another caller's allowance. A chain made only of trusted proxies gives its leftmost entry; an
 * entry that is not an address ends the walk at the last proxy that was (its peer).
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | null, trusted: BlockList | undefined): string {
  const socket = peer ?? "unknown";
  if (trusted === undefined || !forwardedFor) return socket;
  let current = parse(socket);
  if (current === undefined || !trusted.check(current.address, current.type)) return socket;
  const hops = forwardedFor.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parse(hops[i] ?? "");
    if (hop === undefined) break;
    current = hop;
    if (!trusted.check(hop.address, hop.type)) break;
  }
  return current.address;
}

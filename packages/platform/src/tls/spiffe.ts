/** A SPIFFE ID, `spiffe://<trust domain>/<workload>`: who a mesh certificate says its holder is. */
export interface SpiffeId {
  trustDomain: string;
  /** The path without its leading slash: the workload name, e.g. `order`. */
  workload: string;
}

const SPIFFE_URI = /^spiffe:\/\/([a-z0-9.\-_]+)\/([A-Za-z0-9.\-_/]+)$/;

/** Parses `spiffe://shop.mesh/order`; undefined for anything else. */
export function parseSpiffeId(uri: string): SpiffeId | undefined {
  const found = SPIFFE_URI.exec(uri);
  return found ? { trustDomain: found[1]!, workload: found[2]! } : undefined;
}

/** `spiffe://<trustDomain>/<workload>`. */
export function spiffeUri(id: SpiffeId): string {
  return `spiffe://${id.trustDomain}/${id.workload}`;
}

/**
 * The SPIFFE ID in a certificate's subject alternative names, as Node prints them
 * (`"URI:spiffe://shop.mesh/order, DNS:localhost"`); undefined when there is none, or more than one
 * (a SPIFFE certificate carries exactly one).
 */
export function spiffeIdOfSubjectAltName(subjectAltName: string | undefined): SpiffeId | undefined {
  const uris = (subjectAltName ?? "")
    .split(/,\s*/)
    .filter((name) => name.startsWith("URI:spiffe://"))
    .map((name) => name.slice("URI:".length));
  return uris.length === 1 ? parseSpiffeId(uris[0]!) : undefined;
}

import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { ConnectError, HandlerContext } from "@connectrpc/connect";
import type { ServerSurfaceCall } from "../adapter/call-context.js";
import { permissionDenied, unauthenticated } from "../errors.js";
import { type SpiffeId, spiffeIdOfSubjectAltName, spiffeUri } from "../tls/spiffe.js";

/** Workload names of the mesh (`order` for `spiffe://<trust domain>/order`), or {@link ANY_WORKLOAD}. */
export type Workloads = readonly string[];

/** Stands for every workload of the mesh's trust domain in a caller list (health checks, test fixtures). */
export const ANY_WORKLOAD = "*";

/** The request header that names the end user a call is made for. */
export const USER_HEADER = "x-user-id";

/**
 * Who may call a service, declared beside it: every method lists the workloads allowed to call it
 * (the type makes the table complete), and `userAsserters` the workloads trusted to name the end
 * user in `x-user-id`.
 */
export interface AccessPolicy<S extends DescService = DescService> {
  callers: { readonly [M in keyof S["method"]]: Workloads };
  /** Default: nobody. A call from anyone else that carries `x-user-id` is refused, never believed. */
  userAsserters?: Workloads;
}

/** What the server knows to decide: whether callers are authenticated at all, and its trust domain. */
export interface AccessControl {
  trustDomain: string;
}

/** Decides one method's calls. */
export type MethodGate = (call: ServerSurfaceCall) => ConnectError | undefined;

/** Peer identities by HTTP/2 session: one TLS handshake, one certificate (HTTP/2 forbids renegotiation). */
const sessionIdentities = new WeakMap<object, SpiffeId | null>();

/**
 * The HTTP/2 session a grpc-js server call came on, read from grpc-js's internals defensively
 * (`call.call[.nextCall…].stream.session`); undefined if their shape changes, and then every call
 * asks TLS again, which is correct, only slower.
 */
function sessionOf(call: ServerSurfaceCall): object | undefined {
  let layer = (call as unknown as { call?: unknown }).call as { stream?: { session?: object }; nextCall?: unknown } | undefined;
  for (let depth = 0; layer && depth < 8; depth++) {
    if (layer.stream?.session) return layer.stream.session;
    layer = layer.nextCall as typeof layer;
  }
  return undefined;
}

/**
 * The SPIFFE ID of the peer's verified client certificate, if the call came over mTLS. Read once per
 * connection: TLS builds the whole peer certificate object on every ask, which measured at tens of
 * microseconds a call (bench part "tls").
 */
export function peerIdentity(call: ServerSurfaceCall): SpiffeId | undefined {
  const session = sessionOf(call);
  const known = session && sessionIdentities.get(session);
  if (known !== undefined) return known ?? undefined;
  const id = spiffeIdOfSubjectAltName(call.getAuthContext()?.sslPeerCertificate?.subjectaltname);
  if (session) sessionIdentities.set(session, id ?? null);
  return id;
}

/**
 * The gate of one method: PERMISSION_DENIED (ErrorInfo CALLER_NOT_ALLOWED) unless the peer's
 * certificate names an allowed workload of the trust domain, and (USER_ASSERTION_NOT_ALLOWED)
 * when a peer not trusted to name users sends `x-user-id`. Without access control (MESH_TLS=off)
 * every call passes: there are no identities to check.
 */
export function methodGate(
  method: DescMethod,
  allowed: Workloads,
  userAsserters: Workloads,
  control: AccessControl | undefined,
): MethodGate {
  if (!control) return () => undefined;
  const path = `/${method.parent.typeName}/${method.name}`;
  const allows = (workloads: Workloads, id: SpiffeId) => workloads.includes(ANY_WORKLOAD) || workloads.includes(id.workload);
  return (call) => {
    const id = peerIdentity(call);
    if (!id || id.trustDomain !== control.trustDomain || !allows(allowed, id)) {
      const caller = id ? spiffeUri(id) : "an unidentified peer";
      return permissionDenied("CALLER_NOT_ALLOWED", `${caller} may not call ${path}`, { caller: id ? spiffeUri(id) : "", method: path });
    }
    if (call.metadata.get(USER_HEADER).length > 0 && !allows(userAsserters, id)) {
      return permissionDenied("USER_ASSERTION_NOT_ALLOWED", `${spiffeUri(id)} may not name the end user (${USER_HEADER}) to ${path}`, {
        caller: spiffeUri(id),
        method: path,
      });
    }
    return undefined;
  };
}

/** The policy that lets any workload of the mesh call every method and name users: for infrastructure services and tests. */
export function openAccess<S extends DescService>(service: S): AccessPolicy<S> {
  const callers = Object.fromEntries(service.methods.map((method) => [method.localName, [ANY_WORKLOAD]]));
  return { callers: callers as unknown as AccessPolicy<S>["callers"], userAsserters: [ANY_WORKLOAD] };
}

/**
 * The end user a call is made for: the `x-user-id` header, which reaches a handler only from a
 * workload trusted to name users (`userAsserters`). UNAUTHENTICATED (MISSING_USER) when there is
 * none: a call that acts for a user never falls back to "all users".
 */
export function endUser(ctx: HandlerContext): string {
  const user = ctx.requestHeader.get(USER_HEADER);
  if (!user)
    throw unauthenticated(
      "MISSING_USER",
      `this method acts for an end user: call it through the gateway with a bearer token (no ${USER_HEADER})`,
    );
  return user;
}

import { type ClientHttp2Session, connect, constants, type SecureClientSessionOptions } from "node:http2";
import type { PeerCertificate } from "node:tls";
import type { MeshTlsSource } from "../tls/mesh-tls.js";
import { type ParsedTarget, parseTarget, resolveTarget, type TargetAddress } from "./grpc-target.js";

/** How the pool's sessions connect and are kept alive. */
export interface SessionPoolOptions {
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  /** mTLS: the workload's certificate, the SNI name, and the server's SPIFFE check; absent: plaintext h2c. */
  tls?: {
    source: MeshTlsSource;
    servername: string;
    checkServerIdentity: (host: string, certificate: PeerCertificate) => Error | undefined;
  };
}

/** How long a connection attempt may take (grpc-js's minimum connect timeout). */
const CONNECT_TIMEOUT_MS = 20_000;

interface Slot {
  address: TargetAddress;
  session: ClientHttp2Session | undefined;
}

/**
 * One HTTP/2 session per address of a target, calls spread round-robin across them (as grpc-js's
 * round_robin). A session that closes, fails or receives GOAWAY leaves the pool at once: new calls
 * open a fresh one (after resolving the target again), calls in flight on it finish (or fail, as
 * HTTP/2 decides). A connection attempt is given up after 20 s. Keep-alive pings every `keepaliveTimeMs`; one unanswered
 * for `keepaliveTimeoutMs` destroys the session. A session holds the process open only while calls run on it.
 */
export class Http2SessionPool {
  private readonly target: ParsedTarget;
  private slots: Slot[] = [];
  private resolving: Promise<void> | undefined;
  private stale = true;
  private next = 0;
  private closed = false;
  private readonly active = new WeakMap<ClientHttp2Session, number>();

  constructor(
    readonly name: string,
    private readonly options: SessionPoolOptions,
  ) {
    this.target = parseTarget(name);
  }

  /** A session to start a call on: at once when the target's addresses are known, else once resolved. */
  session(): ClientHttp2Session | Promise<ClientHttp2Session> {
    if (this.closed) throw new Error(`the client of ${this.name} is closed`);
    if (this.stale || this.slots.length === 0) return this.refresh().then(() => this.pick());
    return this.pick();
  }

  /** Marks a call started on `session` (the session keeps the process alive until `release`). */
  hold(session: ClientHttp2Session): void {
    const count = this.active.get(session) ?? 0;
    if (count === 0) session.ref();
    this.active.set(session, count + 1);
  }

  /** Marks a call on `session` over. */
  release(session: ClientHttp2Session): void {
    const count = (this.active.get(session) ?? 1) - 1;
    this.active.set(session, count);
    if (count === 0 && !session.destroyed) session.unref();
  }

  /** Closes every session (calls in flight fail) and stops reading certificates. */
  close(): void {
    this.closed = true;
    for (const slot of this.slots) slot.session?.destroy();
    this.slots = [];
    this.options.tls?.source.release();
  }

  private refresh(): Promise<void> {
    this.resolving ??= (async () => {
      try {
        if (this.options.tls) await this.options.tls.source.ready;
        const addresses = await resolveTarget(this.target);
        if (addresses.length === 0) throw new Error(`${this.name} resolved to no address`);
        const kept = new Map(this.slots.map((slot) => [`${slot.address.host}|${slot.address.port}`, slot]));
        this.slots = addresses.map((address) => kept.get(`${address.host}|${address.port}`) ?? { address, session: undefined });
        this.stale = false;
      } finally {
        this.resolving = undefined;
      }
    })();
    return this.resolving;
  }

  private pick(): ClientHttp2Session {
    if (this.closed) throw new Error(`the client of ${this.name} is closed`);
    const slot = this.slots[this.next++ % this.slots.length] as Slot;
    if (this.next >= 0x40000000) this.next = 0;
    // A session destroyed a moment ago (its calls just failed) may not have emitted "close" yet: never hand it out.
    if (slot.session === undefined || slot.session.destroyed) slot.session = this.open(slot);
    return slot.session;
  }

  private open(slot: Slot): ClientHttp2Session {
    const { host, port } = slot.address;
    const authority = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    const tls = this.options.tls;
    let session: ClientHttp2Session;
    if (tls) {
      const material = tls.source.current();
      const secure: SecureClientSessionOptions = {
        ...material,
        host,
        port,
        servername: tls.servername,
        checkServerIdentity: tls.checkServerIdentity,
      };
      session = connect(`https://${authority}`, secure);
    } else {
      session = connect(`http://${authority}`);
    }
    session.unref();
    // A session that leaves (GOAWAY, error, close) sends the next pick to resolve the target again,
    // as grpc-js re-resolves when a connection drops: a replaced server may have a new address.
    const leave = () => {
      if (slot.session === session) slot.session = undefined;
      this.stale = true;
    };
    const keepalive = this.keepalive(session);
    // A connection attempt that neither succeeds nor fails (packets to an address nobody holds any
    // more) is given up, as grpc-js's connect timeout does; its calls fail by their own deadlines first.
    const connecting = setTimeout(() => session.destroy(new Error("connection attempt timed out")), CONNECT_TIMEOUT_MS);
    connecting.unref();
    session.once("connect", () => clearTimeout(connecting));
    session.once("goaway", leave);
    session.on("error", leave);
    session.once("close", () => {
      leave();
      clearTimeout(connecting);
      clearInterval(keepalive);
    });
    return session;
  }

  private keepalive(session: ClientHttp2Session): NodeJS.Timeout {
    const timer = setInterval(() => {
      if (session.destroyed || session.connecting) return;
      const timeout = setTimeout(() => session.destroy(new Error("keep-alive ping unanswered")), this.options.keepaliveTimeoutMs);
      timeout.unref();
      try {
        session.ping(() => clearTimeout(timeout));
      } catch {
        clearTimeout(timeout);
      }
    }, this.options.keepaliveTimeMs);
    timer.unref();
    return timer;
  }
}

export const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INADEQUATE_SECURITY } = constants;

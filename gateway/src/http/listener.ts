import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  constants as http2,
} from "node:http2";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";

/** Limits neither node:http2 nor connect-node sets by default. */
export interface ListenerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  maxConcurrentStreams: number;
  /** Open connections per process; more are closed as they arrive. */
  maxConnections: number;
  /** Open connections per remote address per process; more from that address are closed as they arrive (0: no cap). */
  maxConnectionsPerIp: number;
}

/** One TCP port speaking HTTP/1.1 and h2c (prior knowledge) to the same handler. */
export interface DualProtocolListener {
  port: number;
  /** Stops accepting, closes idle HTTP/2 sessions and HTTP/1.1 keep-alives, destroys the rest after `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

type Handler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Listens on `port` and routes each connection by its first bytes: the HTTP/2 client preface goes
 * to a node:http2 server, anything else to a node:http server. (Node 20's plain `http2.createServer`
 * ignores `allowHTTP1`; that only works with TLS, and browsers/curl here speak cleartext HTTP/1.1.)
 */
export async function listenDualProtocol(
  host: string,
  port: number,
  limits: ListenerLimits,
  handler: Handler,
): Promise<DualProtocolListener> {
  const h1 = createHttp1Server(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: 5_000,
      // How often those two are enforced (node's default is 30 s, which would stretch a short headersTimeout).
      connectionsCheckingInterval: Math.max(250, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 2))),
      maxHeaderSize: 16 * 1024,
    },
    handler,
  );
  h1.timeout = limits.idleTimeoutMs;
  // node:http enforces headersTimeout/requestTimeout from a timer it starts on "listening"; this
  // server never listens itself (the TCP server below hands it sockets), so start that timer here.
  h1.emit("listening");
  const h2 = createHttp2Server(
    { settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: 16 * 1024 }, maxSessionMemory: 10 },
    (req, res) => {
      // One turn of the event loop later, a stream its client reset in the same read (HEADERS then
      // RST_STREAM: rapid reset) is already closed and costs nothing more; measured, each one that
      // reached connect-node cost ~20 KB of garbage and milliseconds of CPU.
      setImmediate(() => {
        if (req.stream.destroyed) return;
        timeRequestBody(req, res, limits.requestTimeoutMs);
        handler(req, res);
      });
    },
  );
  h2.setTimeout(limits.idleTimeoutMs); // an idle h2c session is closed, as node:http2 never does by itself
  const sessions = new Set<Http2Session>();
  h2.on("session", (session: Http2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    // The HTTP/2 counterpart of headersTimeout: a session that opens no request in time is closed.
    const firstRequest = setTimeout(() => session.destroy(), limits.headersTimeoutMs);
    firstRequest.unref();
    session.once("stream", () => clearTimeout(firstRequest));
    session.once("close", () => clearTimeout(firstRequest));
  });
  const sockets = new Set<Socket>();
  const perIp = connectionsPerAddress(limits.maxConnectionsPerIp);
  // node:http's own server turns Nagle off on every socket it accepts (noDelay defaults to true);
  // this one accepts them itself, so it must too, or a response written in two pieces (gRPC's
  // headers, message and trailers; HTTP/1.1 keep-alive) waits for the client's delayed ACK.
  const tcp = createNetServer({ noDelay: true }, (socket) => {
    if (!perIp.admit(socket)) return;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    // The HTTP/1.1 server enforces headersTimeout itself; until the first bytes arrive this does.
    socket.setTimeout(limits.headersTimeoutMs, () => socket.destroy());
    let seen = Buffer.alloc(0);
    const sniff = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && seen.length < H2_PREFACE.length) return; // wait for the whole preface
      socket.off("data", sniff);
      socket.setTimeout(0);
      // Put the sniffed bytes back; node:http2 drains a socket's buffered data into its session
      // (and the http parser reads it as a 'data' event), so neither server loses the first bytes.
      socket.pause();
      socket.unshift(seen);
      (isH2 ? h2 : h1).emit("connection", socket);
      if (!isH2) socket.resume();
    };
    socket.on("data", sniff);
  });
  // Past the cap node:net closes each new connection at once ("drop"), before a byte is read.
  tcp.maxConnections = limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(port, host, () => resolve());
  });
  return {
    port: (tcp.address() as AddressInfo).port,
    async close(graceMs = 5_000) {
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const session of sessions) session.close();
      h1.closeIdleConnections();
      h1.close(() => undefined); // stops the timeout-checking timer; it was never listening itself
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
  };
}

/**
 * Counts open connections per remote address: one neighbour holding connections open (idle, or
 * slow-walking its requests) cannot take the whole process's `maxConnections` from every other
 * caller. A connection past the address's cap is destroyed before a byte is read. 0 turns it off
 * (as behind a proxy whose connections all come from one address).
 */
function connectionsPerAddress(cap: number): { admit(socket: Socket): boolean } {
  if (cap <= 0) return { admit: () => true };
  const open = new Map<string, number>();
  return {
    admit(socket) {
      const address = socket.remoteAddress ?? "";
      const count = open.get(address) ?? 0;
      if (count >= cap) {
        socket.destroy();
        return false;
      }
      open.set(address, count + 1);
      socket.once("close", () => {
        const left = (open.get(address) ?? 1) - 1;
        if (left > 0) open.set(address, left);
        else open.delete(address);
      });
      return true;
    },
  };
}

/**
 * The HTTP/2 counterpart of node:http's requestTimeout: a request whose body has not fully arrived
 * within `timeoutMs` (a slow or stalled body) is answered 408 if nothing was sent yet, and its stream
 * reset. A request without a body (END_STREAM on its HEADERS) is complete at once; a long response
 * (a server stream) is not limited by this.
 */
function timeRequestBody(req: Http2ServerRequest, res: Http2ServerResponse, timeoutMs: number): void {
  const stream = req.stream;
  if (timeoutMs <= 0 || stream.endAfterHeaders) return;
  const timer = setTimeout(() => {
    if (req.readableEnded || stream.destroyed) return;
    if (!res.headersSent) {
      res.writeHead(408, { "content-type": "text/plain" });
      res.end("request body not received in time");
    }
    stream.close(http2.NGHTTP2_CANCEL);
  }, timeoutMs);
  timer.unref();
  req.once("end", () => clearTimeout(timer));
  stream.once("close", () => clearTimeout(timer));
}

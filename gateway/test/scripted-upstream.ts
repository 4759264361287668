// A gRPC upstream on raw node:http2 over mTLS (the inventory's test certificate) that answers every
// call with the trailers a test scripts for it — including ones no platform server would send
// (internal addresses in grpc-message, private trailers, debug details), to prove the gateway drops them.
import { readFileSync } from "node:fs";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { testCertificateFiles } from "@shop/platform/testing/certificates";

/** The trailers of one answer (`grpc-status` and whatever else), or "hang" to never answer. */
export type ScriptedAnswer = Record<string, string | Buffer> | "hang";

/** The running upstream. */
export interface ScriptedUpstream {
  /** `127.0.0.1:<port>`. */
  target: string;
  port: number;
  /** Calls whose stream is still open (a "hang" answer stays open until its caller cancels it). */
  openCalls(): number;
  close(): Promise<void>;
}

/** Starts the upstream; `answer` sees the method path and picks the trailers. */
export async function startScriptedUpstream(answer: (path: string) => ScriptedAnswer): Promise<ScriptedUpstream> {
  const files = testCertificateFiles("inventory");
  const server: Http2SecureServer = createSecureServer({
    key: readFileSync(files.key),
    cert: readFileSync(files.cert),
    ca: readFileSync(files.ca),
    requestCert: true,
    rejectUnauthorized: true,
  });
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  let open = 0;
  server.on("stream", (stream, headers) => {
    open++;
    stream.once("close", () => open--);
    stream.on("error", () => undefined);
    stream.resume();
    const trailers = answer(String(headers[":path"]));
    if (trailers === "hang") return;
    const binary = Object.fromEntries(
      Object.entries(trailers).map(([key, value]) => [key, Buffer.isBuffer(value) ? value.toString("base64") : value]),
    );
    stream.respond({ ":status": 200, "content-type": "application/grpc", ...binary }, { endStream: true });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    target: `127.0.0.1:${port}`,
    port,
    openCalls: () => open,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
}

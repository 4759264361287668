// The server set-up the raw test upstreams share: node:http2 over mTLS with the inventory's test
// certificate (client certificates required, as the platform's servers do), on an ephemeral
// loopback port, its sessions destroyed on close. Each upstream only says how to answer a stream.
import { readFileSync } from "node:fs";
import {
  createSecureServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { testCertificateFiles } from "@shop/platform/testing/certificates";

/** A running upstream. */
export interface MtlsUpstream {
  /** `127.0.0.1:<port>`, for `<NAME>_URL`. */
  target: string;
  port: number;
  close(): Promise<void>;
}

/** Starts the server; `answer` gets each stream (its errors already swallowed) and its request headers. */
export async function startMtlsUpstream(answer: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void): Promise<MtlsUpstream> {
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
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    answer(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    target: `127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
}

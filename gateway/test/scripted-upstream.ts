// A gRPC upstream on raw node:http2 over mTLS (the inventory's test certificate) that answers every
// call with the trailers a test scripts for it — including ones no platform server would send
// (internal addresses in grpc-message, private trailers, debug details), to prove the gateway drops them.
import { type MtlsUpstream, startMtlsUpstream } from "./mtls-upstream.js";

/** The trailers of one answer (`grpc-status` and whatever else), or "hang" to never answer. */
export type ScriptedAnswer = Record<string, string | Buffer> | "hang";

/** The running upstream. */
export interface ScriptedUpstream extends MtlsUpstream {
  /** Calls whose stream is still open (a "hang" answer stays open until its caller cancels it). */
  openCalls(): number;
}

/** Starts the upstream; `answer` sees the method path and picks the trailers. */
export async function startScriptedUpstream(answer: (path: string) => ScriptedAnswer): Promise<ScriptedUpstream> {
  let open = 0;
  const upstream = await startMtlsUpstream((stream, headers) => {
    open++;
    stream.once("close", () => open--);
    stream.resume();
    const trailers = answer(String(headers[":path"]));
    if (trailers === "hang") return;
    const binary = Object.fromEntries(
      Object.entries(trailers).map(([key, value]) => [key, Buffer.isBuffer(value) ? value.toString("base64") : value]),
    );
    stream.respond({ ":status": 200, "content-type": "application/grpc", ...binary }, { endStream: true });
  });
  return { ...upstream, openCalls: () => open };
}

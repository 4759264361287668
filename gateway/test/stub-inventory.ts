// A minimal gRPC inventory upstream on raw node:http2 over mTLS (the inventory's test certificate, client
// certificates required, as the platform's servers do): GetProduct answers one product, and each call
// records the client port of the connection it came on — one per gateway process, since each worker
// keeps its own channel — so a test can tell how many workers forwarded calls.
import { create, toBinary } from "@bufbuild/protobuf";
import { GetProductResponseSchema } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { startMtlsUpstream } from "./mtls-upstream.js";

/** The running stub. */
export interface StubInventory {
  /** `127.0.0.1:<port>`, for INVENTORY_URL. */
  target: string;
  /** The client port of each call's connection, in arrival order. */
  callerPorts: number[];
  close(): Promise<void>;
}

/** A length-prefixed gRPC message frame (uncompressed). */
function frame(message: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** Starts the stub on an ephemeral loopback port. */
export async function startStubInventory(): Promise<StubInventory> {
  const response = create(GetProductResponseSchema, { product: { sku: "SKU-1", name: "Stub product" } });
  const body = frame(toBinary(GetProductResponseSchema, response));
  const callerPorts: number[] = [];
  const upstream = await startMtlsUpstream((stream, headers) => {
    stream.resume(); // the request message is not needed
    if (headers[":path"] !== "/shop.inventory.v1.InventoryService/GetProduct") {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
      return;
    }
    callerPorts.push(stream.session?.socket.remotePort ?? 0);
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(body);
  });
  return { target: upstream.target, callerPorts, close: upstream.close };
}

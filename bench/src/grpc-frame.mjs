// The GetProduct request as bytes on the wire, written once to a file for h2load `-d`.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetProductRequestSchema } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";

export const GET_PRODUCT_PATH = "/shop.inventory.v1.InventoryService/GetProduct";
export const BENCH_SKU = process.env.BENCH_SKU ?? "SKU-MUG-001";

/** A scratch directory for this run's request bodies, logs and profiles. */
export const scratch = mkdtempSync(join(tmpdir(), "shop-bench-"));

/** Writes a gRPC length-prefixed frame (flag byte, big-endian length, message) for `sku`; returns its path. */
export function grpcFrameFile(sku = BENCH_SKU) {
  const message = toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { sku }));
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  const file = join(scratch, `get-product-${sku}.grpc`);
  writeFileSync(file, frame);
  return file;
}

/** Writes a file with `text` (e.g. a Connect JSON body) into the scratch directory; returns its path. */
export function bodyFile(name, text) {
  const file = join(scratch, name);
  writeFileSync(file, text);
  return file;
}

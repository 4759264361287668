// How the platform puts protobuf-es messages on the wire for grpc-js and its own HTTP/2 client:
// shared by the server side (server-definition) and the client side (create-client), which must
// not load what only a server needs.

import { create, type DescMessage, type DescMethod, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import { useBufferTextEncoding } from "../text-encoding.js";

/** Encodes a message (or a message init shape) of `schema` as a Buffer without copying. */
export function serializerFor(schema: DescMessage): (value: unknown) => Buffer {
  useBufferTextEncoding();
  return (value) => {
    const message = isMessage(value, schema) ? value : create(schema, value as never);
    const bytes = toBinary(schema, message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** Decodes bytes into a message of `schema`. */
export function deserializerFor<Desc extends DescMessage>(schema: Desc): (bytes: Buffer) => ReturnType<typeof fromBinary<Desc>> {
  return (bytes) => fromBinary(schema, bytes);
}

/**
 * A request whose bytes are not a message of its type. grpc-js answers INTERNAL when a server's
 * deserializer throws; the handler answers INVALID_ARGUMENT for this instead: the caller sent it.
 */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/** Decodes a request, or returns an {@link UndecodableRequest} (never throws: see there). */
export function requestDeserializerFor(schema: DescMessage): (bytes: Buffer) => unknown {
  return (bytes) => {
    try {
      return fromBinary(schema, bytes);
    } catch (error) {
      return new UndecodableRequest(error instanceof Error ? error.message : String(error));
    }
  };
}

/** The grpc-js path of a method: `/package.Service/Method`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

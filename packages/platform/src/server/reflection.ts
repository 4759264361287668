import { EventEmitter } from "node:events";
import { create, type DescFile, type DescService, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import {
  type MethodDefinition,
  type Server,
  type ServerDuplexStream,
  type ServiceDefinition,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";

/** Every file the services are declared in plus their imports, dependencies first. */
function filesOf(services: DescService[]): DescFile[] {
  const seen = new Set<string>();
  const ordered: DescFile[] = [];
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    for (const dependency of file.dependencies) visit(dependency);
    ordered.push(file);
  };
  for (const service of services) visit(service.file);
  return ordered;
}

/** What `@grpc/reflection` registers per reflection service: its definition and its handler. */
type Registered = Map<
  string,
  { definition: MethodDefinition<unknown, unknown>; handler: (stream: ServerDuplexStream<unknown, unknown>) => void }
>;

/**
 * Builds `@grpc/reflection`'s service for `services` and returns what it registers, keyed by
 * method path. Loaded on the first reflection call: `@grpc/proto-loader` (protobufjs) and the
 * descriptor set it parses are ~3 MiB of RSS in every process that nobody reflecting never needs.
 */
async function loadReflection(services: DescService[]): Promise<Registered> {
  const [{ loadFileDescriptorSetFromBuffer }, { ReflectionService }] = await Promise.all([
    import("@grpc/proto-loader"),
    import("@grpc/reflection"),
  ]);
  const ordered = filesOf(services);
  const files = ordered.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
  const set = create(FileDescriptorSetSchema, { file: ordered.map((file) => file.proto) });
  const packageDefinition = loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)));
  // protobufjs re-serializes the descriptors it loaded, merging files (a message file ends up inside
  // the service file), which leaves imports dangling and clients such as buf curl unable to
  // link them. Reflection only reads `fileDescriptorProtos`, so hand it the exact generated files.
  for (const definition of Object.values(packageDefinition)) {
    if ("fileDescriptorProtos" in definition) definition.fileDescriptorProtos = files;
  }
  const registered: Registered = new Map();
  const recorder = {
    addService(service: ServiceDefinition, implementation: UntypedServiceImplementation) {
      for (const [name, definition] of Object.entries(service)) {
        registered.set(definition.path, {
          definition: definition as MethodDefinition<unknown, unknown>,
          handler: implementation[name] as (stream: ServerDuplexStream<unknown, unknown>) => void,
        });
      }
    },
  };
  new ReflectionService(packageDefinition).addToServer(recorder);
  return registered;
}

const bytes = (value: Buffer) => value;

/**
 * Adds server reflection (`grpc.reflection.v1` and `v1alpha`) for `services`, fed from the
 * protobuf-es descriptors buf generated, so `buf curl` and `grpcurl` need no local protos.
 * `reflectionServices` are the two reflection services' own descriptors (their paths are
 * registered at once; `@grpc/reflection` answers them, loaded on the first call). The
 * registered methods pass bytes; each stream is handed to the library's handler through an
 * adapter that decodes requests and encodes responses with the library's own definition.
 */
export function addReflection(server: Pick<Server, "addService">, services: DescService[], reflectionServices: DescService[]): void {
  let loaded: Promise<Registered> | undefined;
  for (const reflection of reflectionServices) {
    const definition: Record<string, MethodDefinition<Buffer, Buffer>> = {};
    const implementation: UntypedServiceImplementation = {};
    for (const method of reflection.methods) {
      const path = `/${reflection.typeName}/${method.name}`;
      definition[method.name] = {
        path,
        requestStream: true,
        responseStream: true,
        requestSerialize: bytes,
        requestDeserialize: bytes,
        responseSerialize: bytes,
        responseDeserialize: bytes,
      };
      implementation[method.name] = (stream: ServerDuplexStream<Buffer, Buffer>) => {
        loaded ??= loadReflection(services);
        const pending: Array<[string, unknown?]> = [];
        const onData = (request: Buffer) => pending.push(["data", request]);
        const onEnd = () => pending.push(["end"]);
        stream.on("data", onData);
        stream.on("end", onEnd);
        // A failure here ends this call with a status, as grpc-js does for a request it cannot decode.
        const fail = (code: status, error: unknown) => {
          stream.off("data", onData);
          stream.emit("error", Object.assign(new Error(error instanceof Error ? error.message : String(error)), { code }));
        };
        loaded.then(
          (registered) => {
            const target = registered.get(path);
            if (!target) return fail(status.UNIMPLEMENTED, `${path} not implemented`);
            const { definition: library, handler } = target;
            // The library's handler sees a stream of decoded requests and writes response objects.
            const adapter = Object.assign(new EventEmitter(), {
              write: (response: unknown) => stream.write(library.responseSerialize(response)),
              end: () => stream.end(),
            });
            handler(adapter as unknown as ServerDuplexStream<unknown, unknown>);
            stream.off("data", onData);
            stream.off("end", onEnd);
            const forward = (event: string, request?: unknown) => {
              try {
                if (event === "data") adapter.emit("data", library.requestDeserialize(request as Buffer));
                else adapter.emit("end");
              } catch (error) {
                fail(status.INTERNAL, error);
              }
            };
            for (const [event, request] of pending) forward(event, request);
            stream.on("data", (request: Buffer) => forward("data", request));
            stream.on("end", () => forward("end"));
          },
          (error: unknown) => fail(status.INTERNAL, error),
        );
      };
    }
    server.addService(definition as ServiceDefinition, implementation);
  }
}

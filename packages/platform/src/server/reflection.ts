import { create, type DescFile, type DescService, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";

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

/**
 * Adds server reflection (`grpc.reflection.v1` and `v1alpha`) for `services`, fed from the
 * protobuf-es descriptors buf generated, so `buf curl` and `grpcurl` need no local protos.
 */
export function addReflection(server: Pick<Server, "addService">, services: DescService[]): void {
  const files = filesOf(services).map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
  const set = create(FileDescriptorSetSchema, { file: filesOf(services).map((file) => file.proto) });
  const packageDefinition = loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)));
  // protobufjs re-serializes the descriptors it loaded, merging files (a message file ends up inside
  // the service file), which leaves imports dangling and clients such as buf curl unable to
  // link them. Reflection only reads `fileDescriptorProtos`, so hand it the exact generated files.
  for (const definition of Object.values(packageDefinition)) {
    if ("fileDescriptorProtos" in definition) definition.fileDescriptorProtos = files;
  }
  new ReflectionService(packageDefinition).addToServer(server);
}

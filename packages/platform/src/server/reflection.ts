import { create, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
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
  const set = create(FileDescriptorSetSchema, { file: filesOf(services).map((file) => file.proto) });
  // Round-trip through bytes: proto-loader takes a serialized FileDescriptorSet.
  const bytes = toBinary(FileDescriptorSetSchema, set);
  const packageDefinition = loadFileDescriptorSetFromBuffer(Buffer.from(bytes));
  new ReflectionService(packageDefinition).addToServer(server);
}

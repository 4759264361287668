import { clone, createRegistry, type DescFile, type DescService, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { ServerReflection } from "@shop/contracts/grpc/reflection/v1/reflection_pb";
import { ServerReflection as ServerReflectionAlpha } from "@shop/contracts/grpc/reflection/v1alpha/reflection_pb";
import type { PublicMethod } from "./public-surface.js";

/** The v1 and v1alpha reflection requests have the same shape; this is the part we read. */
interface ReflectionRequest {
  messageRequest: { case: string | undefined; value?: unknown };
}

/**
 * Builds the reflection view of the public surface: the fronted services' files with every
 * non-public method removed, plus their dependencies unchanged (message types reveal no method).
 */
function publicDescriptors(methods: readonly PublicMethod[]) {
  const publicPaths = new Set(methods.map((m) => `${m.service.typeName}.${m.method.name}`));
  const services = [...new Map(methods.map((m) => [m.service.typeName, m.service])).values()];
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    for (const dependency of file.dependencies) visit(dependency);
  };
  for (const service of services) visit(service.file);
  const encoded = new Map<string, Uint8Array>();
  for (const [name, file] of files) {
    const proto = clone(FileDescriptorProtoSchema, file.proto);
    for (const service of proto.service) {
      service.method = service.method.filter((method) => publicPaths.has(`${file.proto.package}.${service.name}.${method.name}`));
    }
    const isFronted = (name: string) => services.some((s: DescService) => s.typeName === `${file.proto.package}.${name}`);
    proto.service = proto.service.filter((service) => isFronted(service.name));
    encoded.set(name, toBinary(FileDescriptorProtoSchema, proto));
  }
  const registry = createRegistry(...files.values());
  /** A file and its transitive dependencies, file first. */
  const withDependencies = (name: string): Uint8Array[] => {
    const order: string[] = [];
    const walk = (fileName: string): void => {
      if (order.includes(fileName)) return;
      order.push(fileName);
      for (const dependency of files.get(fileName)?.dependencies ?? []) walk(dependency.name);
    };
    walk(name);
    return order.map((fileName) => encoded.get(fileName)).filter((bytes): bytes is Uint8Array => bytes !== undefined);
  };
  const fileOfSymbol = (symbol: string): string | undefined => {
    const service = services.find((s) => s.typeName === symbol || (symbol.startsWith(`${s.typeName}.`) && publicPaths.has(symbol)));
    if (service) return service.file.name;
    const type = registry.get(symbol);
    if (type && type.kind !== "service" && type.kind !== "extension") return type.file.name;
    return undefined;
  };
  return { services: services.map((s) => s.typeName), files, withDependencies, fileOfSymbol };
}

/** Registers gRPC server reflection (v1 and v1alpha) that shows only the public methods. */
export function registerPublicReflection(router: ConnectRouter, methods: readonly PublicMethod[]): void {
  const view = publicDescriptors(methods);
  const listed = view.services; // the public services only: reflection describes what callers may call
  const notFound = (what: string) => ({ case: "errorResponse" as const, value: { errorCode: 5, errorMessage: `${what} not found` } });
  const descriptors = (file: string) => ({
    case: "fileDescriptorResponse" as const,
    value: { fileDescriptorProto: view.withDependencies(file) },
  });
  function answer(request: ReflectionRequest) {
    const { case: kind, value } = request.messageRequest;
    switch (kind) {
      case "listServices":
        return { case: "listServicesResponse" as const, value: { service: listed.map((name) => ({ name })) } };
      case "fileByFilename": {
        const name = String(value);
        return view.files.has(name) ? descriptors(name) : notFound(name);
      }
      case "fileContainingSymbol": {
        const file = view.fileOfSymbol(String(value));
        return file ? descriptors(file) : notFound(String(value));
      }
      case "allExtensionNumbersOfType":
        return { case: "allExtensionNumbersResponse" as const, value: { baseTypeName: String(value), extensionNumber: [] } };
      default:
        return { case: "errorResponse" as const, value: { errorCode: 12, errorMessage: "not implemented" } };
    }
  }
  for (const method of [ServerReflection.method.serverReflectionInfo, ServerReflectionAlpha.method.serverReflectionInfo]) {
    router.rpc(method, async function* (requests: AsyncIterable<ReflectionRequest>) {
      for await (const request of requests) {
        yield { originalRequest: request, messageResponse: answer(request) };
      }
    } as never);
  }
}

// Copies the third-party .proto files the contracts import from the npm packages that ship
// them into proto/, so buf sees one module and a fresh clone needs no registry.
// Run after bumping one of those packages: `npm run proto:vendor`. The contracts test checks
// the copies still match the packages byte for byte.
//
// buf/validate/validate.proto ships in no npm package: @bufbuild/protovalidate ships only the
// code generated from it. It is copied unchanged from protovalidate's published specification
// (`specProtos` below); the contracts test checks that it compiles to exactly the descriptor the
// installed @bufbuild/protovalidate was generated from, so the rules we write are the rules it runs.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** [source in node_modules, destination under proto/] */
export const vendoredProtos = [
  ["google-proto-files/google/api/annotations.proto", "google/api/annotations.proto"],
  ["google-proto-files/google/api/http.proto", "google/api/http.proto"],
  ["google-proto-files/google/rpc/status.proto", "google/rpc/status.proto"],
  ["google-proto-files/google/rpc/error_details.proto", "google/rpc/error_details.proto"],
  ["google-proto-files/google/rpc/code.proto", "google/rpc/code.proto"],
  ["grpc-health-check/proto/health/v1/health.proto", "grpc/health/v1/health.proto"],
  ["@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto", "grpc/reflection/v1/reflection.proto"],
  ["@grpc/reflection/build/proto/grpc/reflection/v1alpha/reflection.proto", "grpc/reflection/v1alpha/reflection.proto"],
];

/** [where the specification publishes it, destination under proto/, the npm module generated from it] */
export const specProtos = [
  [
    "bufbuild/protovalidate v1.2.2: proto/protovalidate/buf/validate/validate.proto",
    "buf/validate/validate.proto",
    "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js",
  ],
];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [from, to] of vendoredProtos) {
    const destination = join(root, "proto", to);
    mkdirSync(dirname(destination), { recursive: true });
    copyFileSync(join(root, "node_modules", from), destination);
    console.log(`proto/${to}  <-  ${from}`);
  }
  for (const [from, to] of specProtos) console.log(`proto/${to}  is copied by hand from ${from}`);
}

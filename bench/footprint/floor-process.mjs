#!/usr/bin/env node
// The memory floor of one mesh process: Node with the flags `npm start` gives it, plus — for a
// service — the embedded database opened exactly as the platform opens it (PGlite, same settings,
// on the data directory the mesh left, its migrations already applied), and nothing of the mesh's
// own code or libraries (no gRPC, protobuf, validation, tracing, metrics, logging, messaging).
// Part `footprint` runs one per process of the mesh beside the real one: the difference is what the
// mesh's code costs, the floor what no code of ours can go under.
// Usage: node floor-process.mjs <PGlite data directory> <migrations directory>   (a service)
//        node floor-process.mjs                                                 (the gateway: an idle HTTP server)
// Prints "floor-process ready" once open.
import http from "node:http";

const [dataDir, migrationsDir] = process.argv.slice(2);
if (dataDir) {
  const { openDatabase } = await import("@shop/platform/database");
  const db = await openDatabase({ dataDir, migrationsDir });
  await db.query("select 1");
} else {
  await new Promise((resolve) => http.createServer((_req, res) => res.end()).listen(0, "127.0.0.1", resolve));
}
setInterval(() => {}, 60_000);
console.log("floor-process ready");

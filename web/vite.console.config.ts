import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The mesh console: `vite build -c vite.console.config.ts` writes web/dist-console, which the gateway
// serves at /console/ on its admin port (not beside the storefront on the public port). `vite -c …`
// (dev) proxies its API to a gateway admin port on :9080.
const admin = process.env.GATEWAY_ADMIN_URL ?? "http://127.0.0.1:9080";

export default defineConfig({
  root: fileURLToPath(new URL("./console", import.meta.url)),
  base: "/console/",
  build: { outDir: "../dist-console", emptyOutDir: true, target: "es2022", sourcemap: true },
  server: { port: 5174, proxy: { "/console/api": { target: admin } } },
});

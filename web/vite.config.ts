import { defineConfig } from "vite";
import { compression } from "vite-plugin-compression2";

// `vite build` writes web/dist, which the gateway serves at `/`. `vite` (dev) proxies the API to a
// gateway on :8080, so the page stays same-origin and needs no CORS.
const gateway = process.env.GATEWAY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: true },
  // Brotli and gzip copies beside each text file (`index-<hash>.js.br`, `.gz`): the gateway sends the
  // one the caller accepts, compressed once at build time rather than on every request.
  plugins: [compression({ algorithms: ["brotliCompress", "gzip"], include: /\.(html|js|css|svg|json)$/, threshold: 512 })],
  server: {
    port: 5173,
    proxy: {
      "^/shop\\.": { target: gateway },
      "/v1": { target: gateway },
      "/dev": { target: gateway },
    },
  },
});

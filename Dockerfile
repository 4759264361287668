# syntax=docker/dockerfile:1
# One image for the whole mesh (each compose service picks its entry point), plus an Envoy image
# carrying envoy.yaml and the buf-built descriptor set its gRPC-JSON transcoder needs.
#   docker build --target runtime -t shop-mesh .
#   docker build --target envoy   -t shop-mesh-envoy .

FROM node:20-bookworm-slim AS build
WORKDIR /app
# Manifests first, so `npm ci` is cached until a dependency changes.
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
COPY scripts scripts
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx buf generate \
 && npx tsc -b packages/contracts packages/platform services/inventory services/payment services/notification services/order gateway \
 && npm run build -w @shop/web \
 && npx buf build --as-file-descriptor-set -o gateway/envoy/descriptors.binpb \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
COPY --from=build --chown=node:node /app /app
USER node
ENTRYPOINT ["node"]
# docker-compose sets the command per service, e.g. services/order/dist/main.js
CMD ["gateway/dist/main.js"]

FROM envoyproxy/envoy:v1.31-latest AS envoy
COPY gateway/envoy/envoy.yaml /etc/envoy/envoy.yaml
COPY --from=build /app/gateway/envoy/descriptors.binpb /etc/envoy/descriptors.binpb
CMD ["envoy", "-c", "/etc/envoy/envoy.yaml", "--log-level", "info"]

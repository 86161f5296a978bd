# rtml in a container: the CLI is the entrypoint, so one image runs every command —
#   docker build -t rtml .
#   docker run --rm rtml run topologies/fraud.ts --source … --sink …
#   docker run --rm -p 8000:8000 rtml serve --host 0.0.0.0 --registry postgres://… --online redis://…
# docker-compose.yml runs the whole stack; k8s/ has the Kubernetes manifests.

# Build stage: the npm dependencies, with @confluentinc/kafka-javascript's native binding compiled
# as install.sh does it (its prebuilt binary is used instead wherever npm can download it). The
# packages are install.sh's, less kcat (a test tool): the compiler and the headers of the libraries
# its bundled librdkafka links against.
FROM node:20-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka-dev libcurl4-openssl-dev libssl-dev libsasl2-dev zlib1g-dev libzstd-dev liblz4-dev gcc g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY cli ./cli
COPY connectors ./connectors
COPY engine ./engine
COPY models ./models
COPY monitoring ./monitoring
COPY serving ./serving
COPY storage ./storage
# ONNXRUNTIME_NODE_INSTALL=skip: no CUDA provider download; CKJS_LINKING=dynamic: see install.sh.
# npm ci runs `prepare`, which compiles the CLI to dist/ with TypeScript (a dev dependency); the
# dev dependencies are pruned after. tsx stays: topologies are TypeScript, loaded at run time.
RUN ONNXRUNTIME_NODE_INSTALL=skip CKJS_LINKING=dynamic npm ci \
 && npm prune --omit=dev \
 && npm cache clean --force

# Runtime stage: Node and the shared libraries the Kafka binding loads — its own librdkafka build
# (in node_modules, found through its rpath) needs libcurl, OpenSSL, SASL, zstd, lz4 and zlib, not
# Debian's librdkafka1 — and no compiler.
FROM node:20-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libssl3 libsasl2-2 libzstd1 liblz4-1 zlib1g \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# The build stage's /app: the sources, dist/ compiled from them (so it is the current build) and
# node_modules without the dev dependencies.
COPY --from=build /app ./
COPY schemas ./schemas
COPY topologies ./topologies
# data/ (the default artifact, PGlite and checkpoint location) belongs to the unprivileged user, so
# volumes mounted below it start writable for it.
RUN mkdir -p data/models data/checkpoints && chown -R node:node data
USER node
# bin/rtml starts Node with the young-generation size measured best for the command, then the
# compiled CLI (dist/, current: it was built after these sources).
ENTRYPOINT ["bin/rtml"]
CMD ["--help"]
# No HEALTHCHECK here: what "healthy" means depends on the command (serve: GET /ready on its port;
# run: GET /health on --metrics-port; models, replay…: none), so each deployment declares its own
# (docker-compose.yml, k8s/).

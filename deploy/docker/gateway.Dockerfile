# syntax=docker/dockerfile:1
# The gateway image: built from source on Debian bookworm with the packages scripts/deps.sh installs
# for building, run on bookworm-slim with only the shared libraries the binary loads (checked by
# tests/deploy/test_images.py against ldd). Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t menu-gateway:dev .     (or deploy/build-images.sh)

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libgrpc-dev protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotobuf-dev grpc-proto \
      libcurl4-openssl-dev libssl-dev libjansson-dev libmicrohttpd-dev libmariadb-dev libmariadb-dev-compat zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Sources only (gateway.Dockerfile.dockerignore keeps build/, .local/ and .git out of the context,
# so make always builds from scratch here and never reuses the host's objects).
COPY Makefile ./
COPY VERSION ./
COPY scripts/version-flags.sh scripts/
COPY proto proto
COPY common common
COPY services services
COPY gateway gateway
# The context has no .git: build-images.sh passes the revision for `--version` and the logs.
ARG MENU_GIT_REVISION=unknown
# Debug info is dropped, symbols stay (readable backtraces, smaller image).
RUN make -j"$(nproc)" build/bin/gateway && strip --strip-debug build/bin/gateway

FROM debian:bookworm-slim
# Runtime libraries only, no compilers, no shell tools the process would need.
# TLS to the backends uses the CA file it is given; libcurl and ca-certificates: the OTLP trace
# exporter (an https:// collector is verified against the system CA bundle)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libgrpc29 libjansson4 libmicrohttpd12 libprotobuf-c1 libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/bin/gateway /app/gateway
# In a container the process must listen on all interfaces; the binary's default is loopback.
ENV GRPC_ADDR=0.0.0.0:50051 \
    METRICS_ADDR=0.0.0.0:9451
EXPOSE 50051 9451
# Numeric so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
WORKDIR /app
ENTRYPOINT ["/app/gateway"]

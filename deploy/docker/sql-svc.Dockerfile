# syntax=docker/dockerfile:1
# The sql-svc image: built from source on Debian bookworm with the packages scripts/deps.sh installs
# for building, run on bookworm-slim with only the shared libraries the binary loads (checked by
# tests/deploy/test_images.py against ldd). Build from the repository root:
#   docker build -f deploy/docker/sql-svc.Dockerfile -t menu-sql-svc:dev .     (or deploy/build-images.sh)

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libgrpc-dev protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotobuf-dev grpc-proto \
      libcurl4-openssl-dev libssl-dev libjansson-dev libmicrohttpd-dev libmariadb-dev libmariadb-dev-compat zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Sources only (sql-svc.Dockerfile.dockerignore keeps build/, .local/ and .git out of the context,
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
RUN make -j"$(nproc)" build/bin/sql-svc && strip --strip-debug build/bin/sql-svc

FROM debian:bookworm-slim
# Runtime libraries only, no compilers, no shell tools the process would need.
# libmariadb3 also carries the auth plugins MySQL 8 needs (caching_sha2_password, loaded with dlopen);
# ca-certificates: TLS to a managed MySQL (e.g. RDS) verifies against the system CA bundle
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libgrpc29 libjansson4 libmariadb3 libmicrohttpd12 libprotobuf-c1 \
      libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/bin/sql-svc /app/sql-svc
# Migrations ship in the image so `sql-svc migrate` (the migration Job) needs nothing mounted.
COPY services/sql-svc/migrations /app/migrations
ENV MIGRATIONS_DIR=/app/migrations
# In a container the process must listen on all interfaces; the binary's default is loopback.
ENV GRPC_ADDR=0.0.0.0:50053 \
    METRICS_ADDR=0.0.0.0:9453
EXPOSE 50053 9453
# Numeric so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
WORKDIR /app
ENTRYPOINT ["/app/sql-svc"]

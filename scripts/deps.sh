#!/usr/bin/env bash
# Installs what the build, the tests and the local stack need, and nothing that is already there:
# Debian packages with apt-get, npm packages (dynalite, buf) into .local/node of the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(
  build-essential pkg-config clang-format
  libgrpc-dev protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotobuf-dev grpc-proto
  libcurl4-openssl-dev libssl-dev libjansson-dev libmicrohttpd-dev libmariadb-dev libmariadb-dev-compat
  libcmocka-dev zlib1g-dev
  mariadb-server mariadb-client
  nodejs npm
  python3 python3-grpcio python3-protobuf python3-pytest python3-yaml python3-h2 python3-boto3
  nghttp2-client curl ca-certificates procps openssl
  prometheus   # for promtool (tests/deploy checks the alert rules); its server is not used
)
NPM_PKGS=(dynalite@4.0.0 @bufbuild/buf@1.75.0 kubernetes-models@5.1.0
  @kubernetes-models/prometheus-operator@6.0.0)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node/npm may come from elsewhere than Debian (the image ships its own); accept any.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# kubectl (kustomize) renders the manifests in the tests; Debian's is too old, the image's is fine.
command -v kubectl >/dev/null || echo "deps: warning: kubectl not found; manifest tests will be skipped" >&2

node_dir=.local/node
want="${NPM_PKGS[*]}"
if [ "$(cat "$node_dir/.installed" 2>/dev/null)" != "$want" ]; then
  echo "deps: installing npm packages into $node_dir: $want"
  mkdir -p "$node_dir"
  [ -f "$node_dir/package.json" ] || echo '{"name":"menu-local-tools","private":true}' >"$node_dir/package.json"
  npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "${NPM_PKGS[@]}" >/dev/null
  echo "$want" >"$node_dir/.installed"
fi

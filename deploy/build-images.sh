#!/usr/bin/env bash
# Builds the container images: one per binary from deploy/docker/<name>.Dockerfile with the
# repository root as context, and with --local also the dynalite image the local overlay runs.
#   deploy/build-images.sh [--local] [--push] [NAME...]     NAME: gateway dynamo-svc sql-svc dynalite
# Environment:
#   REGISTRY          image name prefix (default localhost:5001, the kind local-registry convention;
#                     e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com for production)
#   TAG               image tag (default dev). Lower-case letters, digits, '.' and '-' only: the
#                     migration Job's name is derived from it. Never "latest".
#   CONTAINER_ENGINE  docker or podman (default: the first one found)
#   DRY_RUN=1         print the commands instead of running them
# Images are named $REGISTRY/menu-<name>:$TAG, as deploy/k8s/overlays/*/kustomization.yaml expect.
set -euo pipefail
cd "$(dirname "$0")/.."

registry=${REGISTRY-localhost:5001}
tag=${TAG:-dev}
push=0 local=0 names=()
for a in "$@"; do
  case $a in
  --push) push=1 ;;
  --local) local=1 ;;
  gateway | dynamo-svc | sql-svc | dynalite) names+=("$a") ;;
  -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
  *) echo "build-images: unknown argument '$a' (see --help)" >&2; exit 2 ;;
  esac
done
((${#names[@]})) || names=(gateway dynamo-svc sql-svc)
((local)) && [[ " ${names[*]} " != *" dynalite "* ]] && names+=(dynalite)

if [[ $tag == latest || ! $tag =~ ^[a-z0-9][a-z0-9.-]{0,39}$ ]]; then
  echo "build-images: TAG '$tag' must match [a-z0-9][a-z0-9.-]* (max 40) and not be 'latest'" >&2
  exit 2
fi

engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  for e in docker podman; do command -v "$e" >/dev/null && { engine=$e; break; }; done
fi
if [ -z "$engine" ] && [ "${DRY_RUN:-0}" != 1 ]; then
  echo "build-images: no container engine found (install docker or podman, or set CONTAINER_ENGINE)" >&2
  exit 1
fi
engine=${engine:-docker}

run() {
  if [ "${DRY_RUN:-0}" = 1 ]; then echo "$*"; else echo "+ $*" >&2; "$@"; fi
}

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# The build context has no .git: the binaries' --version and start-up log get the revision here.
short_revision=$(scripts/version-flags.sh --revision)
for n in "${names[@]}"; do
  image="${registry:+$registry/}menu-$n:$tag"
  # BuildKit reads deploy/docker/$n.Dockerfile.dockerignore (the allow-list of sources).
  run env DOCKER_BUILDKIT=1 "$engine" build -f "deploy/docker/$n.Dockerfile" \
    --label "org.opencontainers.image.revision=$revision" \
    --build-arg "MENU_GIT_REVISION=$short_revision" \
    --label "org.opencontainers.image.title=menu-$n" -t "$image" .
  ((push)) && run "$engine" push "$image"
done
exit 0

#!/usr/bin/env bash
# Applies an overlay in the order the schema needs: everything but the service Deployments
# (namespace, config, Secrets the overlay generates, Services, policies, the release's
# sql-svc-migrate-<tag> Job), then waits for the Job, then the rest (the Deployments roll).
#   deploy/rollout.sh local|production      KUBECTL (default kubectl), TIMEOUT (default 10m),
#   DRY_RUN=1 prints the kubectl commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."
overlay=${1:?usage: deploy/rollout.sh local|production}
dir=deploy/k8s/overlays/$overlay
[ -d "$dir" ] || { echo "rollout: no overlay $dir" >&2; exit 2; }
kubectl=${KUBECTL:-kubectl}
timeout=${TIMEOUT:-10m}

rendered=$(mktemp --suffix=.yaml)
trap 'rm -f "$rendered"' EXIT
"$kubectl" kustomize "$dir" >"$rendered"
# The Job's name carries the image tag: read it from what was rendered.
job=$(awk '/^kind: Job$/{j=1} j&&/^  name: /{print $2; exit}' "$rendered")
[ -n "$job" ] || { echo "rollout: no migration Job in $dir" >&2; exit 1; }
ns=$(awk '/^kind: Job$/{j=1} j&&/^  namespace: /{print $2; exit}' "$rendered")

run() { if [ "${DRY_RUN:-0}" = 1 ]; then echo "$*"; else echo "+ $*" >&2; "$@"; fi; }
# Phase one: every object without the label menu/rollout=after-migration (`!=` matches objects
# without the label), i.e. all but the three service Deployments.
run "$kubectl" apply -f "$rendered" -l 'menu/rollout!=after-migration'
run "$kubectl" -n "$ns" wait --for=condition=complete "job/$job" --timeout="$timeout"
run "$kubectl" apply -f "$rendered"
for d in dynamo-svc sql-svc gateway; do
  run "$kubectl" -n "$ns" rollout status "deployment/$d" --timeout="$timeout"
done

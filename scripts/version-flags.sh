#!/usr/bin/env bash
# Prints the compiler flags that give common/version.c the release version (the VERSION file) and
# the git revision of the tree being built: `git rev-parse --short=12 HEAD`, "-dirty" when tracked
# files differ from HEAD, "unknown" outside a git work tree (a tarball, a container build
# context). MENU_GIT_REVISION in the environment overrides git (deploy/build-images.sh passes it
# into the image build, whose context has no .git).
#   scripts/version-flags.sh              the -D flags
#   scripts/version-flags.sh --revision   the revision alone
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(tr -d ' \t\r\n' <VERSION)
if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]]; then
  echo "version-flags: VERSION '$version' is not MAJOR.MINOR.PATCH[-pre][+build]" >&2
  exit 1
fi

revision=${MENU_GIT_REVISION:-}
# Only this repository's own git: a tarball unpacked inside another work tree is "unknown".
if [ -z "$revision" ] && top=$(git rev-parse --show-toplevel 2>/dev/null) &&
  [ "$(cd "$top" && pwd -P)" = "$(pwd -P)" ]; then
  revision=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
  if [ -n "$revision" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    revision+=-dirty
  fi
fi
revision=${revision:-unknown}
if [[ ! $revision =~ ^[0-9A-Za-z._-]{1,64}$ ]]; then
  echo "version-flags: git revision '$revision' has unexpected characters" >&2
  exit 1
fi
if [ "${1:-}" = --revision ]; then
  echo "$revision"
  exit 0
fi
printf -- '-DMENU_VERSION="%s" -DMENU_GIT_REVISION="%s"\n' "$version" "$revision"

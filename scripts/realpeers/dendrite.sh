#!/usr/bin/env bash
# Dendrite v0.13.8, the real homeserver of the integration tests
# (scripts/realpeers): build it once into a cache, make a throwaway server
# (sqlite on loopback, no federation, no open registration, no rate limits),
# run it, add users.
#
#   dendrite.sh build                  build the binaries if missing; print their directory
#   dendrite.sh init DATA_DIR          keys and dendrite.yaml for server name "localhost" in DATA_DIR
#   dendrite.sh run DATA_DIR ADDR      run it in the foreground on ADDR (127.0.0.1:PORT)
#   dendrite.sh user DATA_DIR URL NAME create user NAME on the server running at URL,
#                                      its password read from stdin
#
# The binaries live in $DENDRITE_BIN_DIR, by default
# ${XDG_CACHE_HOME:-$HOME/.cache}/matrix-notify/dendrite-v0.13.8 (a cold build
# takes about 8 minutes on 2 cores; .ci/run keeps the cache between runs).
# Dendrite is Apache-2.0, from github.com/matrix-org/dendrite: the original
# project, not a fork.
set -euo pipefail

version=v0.13.8
bin_dir="${DENDRITE_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/matrix-notify/dendrite-${version}}"
tools=(dendrite generate-keys generate-config create-account)

die() {
  echo "dendrite.sh: $*" >&2
  exit 2
}

have_binaries() {
  local t
  for t in "${tools[@]}"; do
    [ -x "${bin_dir}/${t}" ] || return 1
  done
}

build() {
  if have_binaries; then
    echo "${bin_dir}"
    return
  fi
  command -v go >/dev/null || die "go is needed to build Dendrite ${version}"
  mkdir -p "${bin_dir}"
  echo "dendrite.sh: building Dendrite ${version} into ${bin_dir} (about 8 minutes cold on 2 cores)" >&2
  local pkgs=() t
  for t in "${tools[@]}"; do
    pkgs+=("github.com/matrix-org/dendrite/cmd/${t}@${version}")
  done
  # Outside this module, so that its go.mod does not get in the way.
  (cd / && CGO_ENABLED=0 GOBIN="${bin_dir}" GOFLAGS=-mod=mod go install "${pkgs[@]}") >&2
  have_binaries || die "the build left no binaries in ${bin_dir}"
  echo "${bin_dir}"
}

init() {
  local dir="$1"
  have_binaries || die "no Dendrite binaries in ${bin_dir}: run '$0 build' first"
  mkdir -p "${dir}"
  dir="$(cd "${dir}" && pwd)"
  [ -f "${dir}/matrix_key.pem" ] || "${bin_dir}/generate-keys" --private-key "${dir}/matrix_key.pem" >/dev/null
  # -ci: sqlite files under -dir, in-memory JetStream, rate limiting off,
  # cheap bcrypt. Then: no federation (loopback only), no registration
  # (users come from create-account), quiet logs into the data directory.
  "${bin_dir}/generate-config" -ci -dir "${dir}" -server localhost |
    sed -e "s|^  private_key: .*|  private_key: ${dir}/matrix_key.pem|" \
      -e 's|^  disable_federation: false|  disable_federation: true|' \
      -e 's|^  registration_disabled: false|  registration_disabled: true|' \
      -e 's|^  level: trace|  level: warn|' \
      >"${dir}/dendrite.yaml"
  # sed edits that missed would leave a server we did not mean to run.
  grep -q '^  disable_federation: true' "${dir}/dendrite.yaml" || die "could not turn federation off in ${dir}/dendrite.yaml"
  grep -q '^  registration_disabled: true' "${dir}/dendrite.yaml" || die "could not turn registration off in ${dir}/dendrite.yaml"
  grep -A2 '^  rate_limiting:' "${dir}/dendrite.yaml" | grep -q 'enabled: false' || die "rate limiting is on in ${dir}/dendrite.yaml"
  echo "${dir}/dendrite.yaml"
}

run() {
  local dir="$1" addr="$2"
  [ -f "${dir}/dendrite.yaml" ] || die "no ${dir}/dendrite.yaml: run '$0 init ${dir}' first"
  cd "${dir}"
  exec "${bin_dir}/dendrite" -config "${dir}/dendrite.yaml" -http-bind-address "${addr}" -https-bind-address ""
}

user() {
  local dir="$1" url="$2" name="$3"
  # Through the running server's shared-secret registration endpoint.
  "${bin_dir}/create-account" -config "${dir}/dendrite.yaml" -url "${url}" -username "${name}" -passwordstdin
}

case "${1:-}" in
build) build ;;
init) [ $# -eq 2 ] || die "usage: $0 init DATA_DIR"; init "$2" ;;
run) [ $# -eq 3 ] || die "usage: $0 run DATA_DIR ADDR"; run "$2" "$3" ;;
user) [ $# -eq 4 ] || die "usage: $0 user DATA_DIR URL NAME"; user "$2" "$3" "$4" ;;
*) die "usage: $0 build | init DATA_DIR | run DATA_DIR ADDR | user DATA_DIR URL NAME" ;;
esac

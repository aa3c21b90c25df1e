// Package realpeers holds the integration tests against real peers: the
// matrix-notify binary delivering to a real homeserver (Dendrite v0.13.8, run
// by dendrite.sh) and read back by a real Matrix client (mautrix, as a
// separate account), and a real netdata daemon running matrix-notify as
// installed by scripts/install.sh.
//
// `go test ./...` skips them, saying why: they run only when DENDRITE_BIN_DIR
// names Dendrite's binaries (`make integration` builds and sets it), and the
// netdata daemon test also needs root and REALPEERS_NETDATA (netdata's binary).
package realpeers

// Package scaleout holds the end-to-end test of several gateway replicas in
// front of a Socket.IO cluster, and the checks of the deployment examples
// under deploy/. It has no code of its own: everything is in its tests.
//
// scaleout_test.go starts Redis, two socket.io 4 nodes sharing rooms and
// broadcasts through @socket.io/redis-adapter, two gateway processes built
// from cmd/gateway (one per node), and nginx in front of both, configured with
// deploy/nginx/gateway.conf. Plain WebSocket clients connect through nginx and
// the test shows that broadcasts, rooms and acks work across replicas, and
// that a replica stopped with SIGTERM drains without disturbing the other.
//
// manifests_test.go reads deploy/kubernetes and deploy/docker-compose.yml:
// every GATEWAY_… name they use must be listed by `gateway --help`, and the
// Kubernetes objects must fit together (probes, grace period, references).
//
// The end-to-end test needs node (with `npm ci` run in testdata/upstream),
// redis-server and nginx (Debian packages redis-server and nginx-light). When
// one is missing it fails if the CI environment variable is set, and is
// skipped otherwise.
package scaleout

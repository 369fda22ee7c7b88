# Convenience targets; the scripts are the source of truth.
.PHONY: run test build bench vet fuzz soak

run:
	./scripts/run-example.sh

test:
	./scripts/test.sh

build:
	go build -o bin/gateway ./cmd/gateway

vet:
	go vet ./...

# Soak through upstream drops and restarts (not part of CI); e.g.
# make soak SOAK_ARGS='--clients 1000 --duration 5m --restart-every 30s'
soak:
	go run ./cmd/gwsoak $(SOAK_ARGS)

# The load generator of DESIGN.md's performance targets (about 40 s).
bench:
	go run ./cmd/gwbench $(BENCH_ARGS)

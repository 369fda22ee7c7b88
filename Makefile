# Convenience targets; the scripts are the source of truth.
.PHONY: run test build bench vet fuzz

run:
	./scripts/run-example.sh

test:
	./scripts/test.sh

build:
	go build -o bin/gateway ./cmd/gateway

vet:
	go vet ./...

# fclayer: build, test and benchmark. Every target installs and starts what it needs
# (a Docker engine, local Debian base images) on a fresh Debian machine, as root.

CARGO ?= cargo
FCLAYER := target/release/fclayer
EXAMPLE_OUT ?= python-layer.zip

.PHONY: all build engine images example test test-unit check fmt bench clean

all: build

build:
	$(CARGO) build --release --locked

# A Docker engine that answers (installs docker.io and starts dockerd if needed).
engine:
	scripts/ensure-engine.sh

# Local Debian base images (no registry is reachable on CI machines).
images: engine
	scripts/base-images.sh all

# The main job: build the example project's layer (python3.9 on a local Debian 11 base).
example: images build
	$(FCLAYER) build examples/python --runtime python3.9 --base-image debian:11 -o $(EXAMPLE_OUT)
	$(FCLAYER) inspect $(EXAMPLE_OUT)

# The whole test suite: unit tests, CLI tests and the real-Docker end-to-end tests, which
# `cargo test` alone shows as ignored (skipped, with the reason) and which fail here when the
# engine is missing. One test at a time: each end-to-end test asserts the engine holds nothing
# of fclayer's after its build, which a concurrent test's containers would break.
test: images
	scripts/oracle-venv.sh
	$(CARGO) test --locked --no-fail-fast -- --include-ignored --test-threads=1

# Tests that need no engine.
test-unit:
	$(CARGO) test --locked

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

bench: images build
	scripts/bench/run.sh

clean:
	$(CARGO) clean

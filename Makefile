# fclayer: build, test and benchmark. Every target installs and starts what it needs
# (a Docker engine, local Debian base images) on a fresh Debian machine, as root.

CARGO ?= cargo
FCLAYER := target/release/fclayer
EXAMPLE_OUT ?= python-layer.zip

.PHONY: all build engine images example test test-docker test-podman test-unit check fmt bench clean fuzz fuzz-seeds fuzz-tools

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
# engine is missing; then the Podman subset. One test at a time: each end-to-end test asserts the
# engine holds nothing of fclayer's after its build, which a concurrent test's containers would
# break.
test: test-docker test-podman

# Everything against Docker, except the tests written for Podman (named on_podman_*, and
# on_rootless_podman_*) and `write_cases`, which only writes the hostile inputs out for measuring
# (tests/hostile_layers.rs).
test-docker: images
	scripts/oracle-venv.sh
	$(CARGO) test --locked --no-fail-fast -- --include-ignored --test-threads=1 --skip on_podman_ --skip on_rootless_podman_ --skip write_cases

# The end-to-end tests that matter most, against rootful Podman (its own store, its own socket),
# then tests/e2e_podman.rs (Podman's quirks, engine discovery, rootless Podman as a normal user).
# scripts/podman.sh installs Podman and starts both services; where rootless Podman cannot run it
# fails saying why, and this target fails with it: set PODMAN_ROOTLESS=skip to leave rootless out
# on such a machine (it says so loudly).
PODMAN_ROOTLESS ?= required
PODMAN_SUBSET := \
	python39_layer_of_numpy_lxml_requests_imports_in_a_fresh_container \
	node_layer_with_a_pure_package_and_a_native_addon_loads \
	apt_layer_runs_psql_with_only_missing_libraries \
	dockerfile_layer_of_a_compiled_program_runs \
	dockerfile_failing_at_a_step_names_it_and_leaves_nothing \
	smoke_test_reports_a_broken_import_and_passes_a_good_layer \
	unchanged_rebuild_is_served_from_the_cache_without_a_container \
	download_cache_volume_survives_builds_and_serves_pip
test-podman: images
	@start=$$(date +%s); \
	url=$$(scripts/podman.sh rootful) || exit 1; \
	if [ "$(PODMAN_ROOTLESS)" = skip ]; then \
	  echo "test-podman: PODMAN_ROOTLESS=skip: rootless Podman is NOT tested" >&2; \
	  rootless_skip="--skip on_rootless_podman_"; rootless_user=; \
	else \
	  scripts/podman.sh rootless >/dev/null || exit 1; \
	  rootless_skip=; rootless_user=$${FCLAYER_ROOTLESS_USER:-fclayer-rootless}; \
	fi; \
	echo "test-podman: Podman ready in $$(( $$(date +%s) - start )) s" >&2; \
	export DOCKER_HOST=$$url FCLAYER_TEST_ENGINE=podman \
	  FCLAYER_TEST_PODMAN_CONF=/etc/fclayer-podman/containers.conf \
	  FCLAYER_TEST_ROOTLESS_USER=$$rootless_user; \
	$(CARGO) test --locked --no-fail-fast --test e2e_python --test e2e_kinds --test e2e_gate \
	  --test e2e_cache -- --include-ignored --test-threads=1 --exact $(PODMAN_SUBSET) \
	  && $(CARGO) test --locked --no-fail-fast --test e2e_podman -- --include-ignored \
	  --test-threads=1 $$rootless_skip \
	  && echo "test-podman: passed in $$(( $$(date +%s) - start )) s" >&2

# Tests that need no engine.
test-unit:
	$(CARGO) test --locked

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	scripts/structure-check.py src

fmt:
	$(CARGO) fmt

# Coverage-guided fuzzing (cargo-fuzz, libFuzzer, AddressSanitizer) of the readers of untrusted
# input: ZIP layers, ELF files, container tar streams, project files. Each target runs for
# FUZZ_SECONDS; the corpus grows in fuzz/corpus/<target>, crashes land in fuzz/artifacts/<target>.
# cargo-fuzz passes nightly-only compiler flags (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets the one
# stable toolchain these machines have accept them (no nightly can be fetched here).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= zip_reader elf_gate tar_validator project_files
# Every input must be read within the issue's bounds: 10 s and 2 GB under ASan (which roughly
# doubles memory) for what must stay below 256 MB without it.
FUZZ_FLAGS ?= -timeout=10 -rss_limit_mb=2048

fuzz-tools:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

# The seed corpus is generated (crafted inputs, see tests/fuzz_seeds.rs), never checked in.
fuzz-seeds:
	FCLAYER_FUZZ_SEEDS=$(CURDIR)/fuzz/seeds $(CARGO) test --locked --test fuzz_seeds

fuzz: fuzz-tools fuzz-seeds
	for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t && \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --fuzz-dir fuzz -O $$t fuzz/corpus/$$t fuzz/seeds/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) || exit 1; \
	done
	rm -rf /dev/shm/fclayer-fuzz-*

bench: images build
	scripts/bench/run.sh

clean:
	$(CARGO) clean

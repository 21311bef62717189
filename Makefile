# Thin wrapper around meson. Quick start on a fresh Debian 12 machine (as root or with sudo):
#   make demo    installs what is missing, builds, scores the bundled example video
#   make check   installs what is missing, builds, runs the whole test suite
#   make check-sanitize   the suite built with clang under ASan + UBSan in build-sanitize (scripts/check-sanitize.sh)
#   make fuzz FUZZ_SECONDS=600   builds the libFuzzer harnesses in build-fuzz, runs each that long (fuzz/run.sh)
#   make check-package   builds the Debian packages (debian/), installs them here and smoke-tests them (scripts/check-package.sh)
#   make check-container   builds the runtime image of Containerfile with buildah and smoke-tests it (scripts/check-container.sh)
#   make check-scale   the Slurm job-array recipe (deploy/slurm/) on a one-node Slurm brought up here (scripts/check-scale.sh)
BUILD ?= build
MESON_OPTS ?=

SANITIZE_BUILD ?= build-sanitize
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30

.PHONY: all deps build check check-sanitize check-package check-container check-scale fuzz demo bench bench-quick clean install

all: build

deps:
	./scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

check: deps
	$(MAKE) build
	./scripts/run-tests.sh $(BUILD)

# clang and its sanitizer runtimes are installed only for these two targets (EMSYNC_WITH_SANITIZE).
check-sanitize:
	EMSYNC_WITH_SANITIZE=1 ./scripts/install-deps.sh
	./scripts/check-sanitize.sh $(SANITIZE_BUILD)

# slurm-wlm and munge are installed only for this target (EMSYNC_WITH_SCALE).
check-scale:
	EMSYNC_WITH_SCALE=1 ./scripts/install-deps.sh
	./scripts/check-scale.sh $(BUILD)

# dpkg-buildpackage and debhelper are installed only for this target (EMSYNC_WITH_PACKAGING).
check-package:
	EMSYNC_WITH_PACKAGING=1 ./scripts/install-deps.sh
	./scripts/check-package.sh

check-container:
	EMSYNC_WITH_CONTAINER=1 ./scripts/install-deps.sh
	./scripts/check-container.sh

fuzz:
	EMSYNC_WITH_SANITIZE=1 ./scripts/install-deps.sh
	./fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BUILD)

demo: deps
	$(MAKE) build
	./scripts/demo.sh $(BUILD)

bench: deps
	$(MAKE) build
	./scripts/bench.sh full $(BUILD)

bench-quick: deps
	$(MAKE) build
	./scripts/bench.sh quick $(BUILD)

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD)

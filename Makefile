# Thin wrapper around meson. Quick start on a fresh Debian 12 machine (as root or with sudo):
#   make demo    installs what is missing, builds, scores the bundled example video
#   make check   installs what is missing, builds, runs the whole test suite
BUILD ?= build
MESON_OPTS ?=

.PHONY: all deps build check demo bench bench-quick clean install

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

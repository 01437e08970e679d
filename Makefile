# Thin wrapper around CMake.  `make` builds sluice only; `make run` and
# `make test` also install missing Debian packages (scripts/deps.sh).
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
RUN_ARGS ?= -L proxy://127.0.0.1:1080
# make install: PREFIX, DESTDIR as usual; SYSCONFDIR defaults to /etc for
# PREFIX=/usr and to PREFIX/etc otherwise.
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?=

.PHONY: all sluice deps run test test-asan fuzz bench clean format lint docs install uninstall deb

all: sluice

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

sluice: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) --target sluice -j $(JOBS)

deps:
	@scripts/deps.sh

run: deps sluice
	@echo "sluice: SOCKS4/4a/5 and HTTP proxy on 127.0.0.1:1080"
	@echo "  try:  curl -x socks5h://127.0.0.1:1080 http://example.org/"
	@echo "        curl -x http://127.0.0.1:1080 http://example.org/"
	@echo "  stop with Ctrl-C"
	./$(BUILD)/sluice $(RUN_ARGS)

# ctest -j: the unit tests run beside each other, each e2e test alone
# (RUN_SERIAL, tests/CMakeLists.txt)
test: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DSLUICE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSLUICE_FUZZ=ON -DSLUICE_TESTS=OFF
	cmake --build build-fuzz -j $(JOBS)
	tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

bench: deps sluice
	bench/run.sh

# The binary, man pages, bash completion, systemd unit, sysusers file,
# example configuration and documents (cmake/docs.cmake says where).
install: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) --target sluice sluice-docs -j $(JOBS)
	DESTDIR="$(DESTDIR)" SLUICE_SYSCONFDIR="$(SYSCONFDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# Removes what `make install` with the same PREFIX, DESTDIR and SYSCONFDIR
# installs (found by installing into a scratch directory), and the
# directories of sluice's own that are left empty; configuration files of
# yours in etc/sluice stay.
uninstall: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) --target sluice sluice-docs -j $(JOBS)
	rm -rf $(BUILD)/uninstall
	DESTDIR="$(abspath $(BUILD))/uninstall" SLUICE_SYSCONFDIR="$(SYSCONFDIR)" \
		cmake --install $(BUILD) --prefix "$(PREFIX)" >/dev/null
	cd $(BUILD)/uninstall && find . ! -type d | while read -r f; do \
		rm -fv "$(DESTDIR)/$${f#./}"; done
	cd $(BUILD)/uninstall && find . -depth -type d \( -name sluice -o -path '*/sluice/*' \) | \
		while read -r d; do \
		rmdir "$(DESTDIR)/$${d#./}" 2>/dev/null || true; done
	rm -rf $(BUILD)/uninstall

# The Debian package, built from a copy of the tree: sluice_VERSION_ARCH.deb
# and the rest of dpkg-buildpackage's output land in DEB_OUT.
DEB_OUT ?= build-deb
deb:
	scripts/deb.sh "$(DEB_OUT)"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# the conventions CI checks: clang-format clean, include layering, file size
lint:
	scripts/check-format.sh
	scripts/check-layers.sh
	scripts/check-size.sh

# regenerate docs/options.md and README's option tables from the schemas
docs: sluice
	scripts/gen-options.py $(BUILD)/sluice

clean:
	rm -rf build build-asan build-fuzz build-deb

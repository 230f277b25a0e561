# etcd-medic — see README.md. `make` installs missing Debian packages (vendor/), then builds build/etcd-medic.
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
CFLAGS  ?= -O2 -g
PKGS     = lua5.4 lua5.4-cjson libcurl openssl yaml-0.1 libedit
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Ibindings -Ihost -I$(BUILD) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl, openssl, libedit: headers only; bindings/base/curl_lazy.c, crypto_lazy.c and host/edit_lazy.c dlopen
# them on first use (bindings/base/lazylib.h): start-up skips the loader's work on them and their dependencies.
LAZY     = libcurl openssl libedit
LIBS     = $(shell pkg-config --libs $(filter-out $(LAZY),$(PKGS)) 2>/dev/null) -lm
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# One folder per Lua module (json, etcd, k8s, node) over base/, the services with no Lua in their interface.
# Sources include headers by folder ("base/http.h"); tests/layout_test.py checks the direction of every include.
BINDING_DIRS = base json etcd k8s node
BINDING_SRC = $(foreach d,$(BINDING_DIRS),$(wildcard bindings/$d/*.c))
BINDING_HDR = $(foreach d,$(BINDING_DIRS),$(wildcard bindings/$d/*.h))
HOST_SRC    = $(filter-out host/embedgen.c,$(wildcard host/*.c))
BINDING_OBJ = $(BINDING_SRC:%.c=$(BUILD)/%.o)
HOST_OBJ    = $(HOST_SRC:%.c=$(BUILD)/%.o) $(BUILD)/embedded.o
SCRIPTS     = $(shell find scripts -name '*.lua' | sort)
UNIT_SRC    = $(wildcard tests/unit/test_*.c)
UNIT_BIN    = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
DEPS_STAMP  = $(BUILD)/.deps-installed

.PHONY: all deps install image dist test-install lint test test-unit test-lua test-repl test-asan test-testbed test-replay test-integration \
        test-e2e demo bench reliability test-reliability-quick test-security fuzz clean
all: $(BUILD)/etcd-medic

deps: $(DEPS_STAMP)
$(DEPS_STAMP): vendor/packages.txt vendor/install.sh
	@vendor/install.sh
	@mkdir -p $(@D) && touch $@

$(BUILD)/%.o: %.c $(BINDING_HDR) $(wildcard host/*.h) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(WARN) $(CFLAGS) -c -o $@ $<

$(BUILD)/embedgen: host/embedgen.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -o $@ $<

$(BUILD)/embedded.c: $(SCRIPTS) $(BUILD)/embedgen
	$(BUILD)/embedgen scripts $(SCRIPTS) > $@.tmp && mv $@.tmp $@

$(BUILD)/embedded.o: $(BUILD)/embedded.c
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) -c -o $@ $<

$(BUILD)/etcd-medic: $(HOST_OBJ) $(BINDING_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BINDING_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(WARN) -Wno-missing-prototypes $(CFLAGS) -o $@ $(filter-out host/%,$^) $(LIBS) -lcmocka

# Unit tests of host/ code #include the .c they test; rebuild them when it changes.
$(BUILD)/tests/test_cli: host/cli.c host/cli.h
$(BUILD)/tests/test_loader: host/loader.c host/commands.c host/loader.h host/commands.h

# The kubectl-etcd_medic and oc-etcd_medic links make it a kubectl/oc plugin: `oc etcd-medic run etcd-status`.
install: $(BUILD)/etcd-medic
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/etcd-medic $(DESTDIR)$(PREFIX)/bin/etcd-medic
	ln -sf etcd-medic $(DESTDIR)$(PREFIX)/bin/kubectl-etcd_medic
	ln -sf etcd-medic $(DESTDIR)$(PREFIX)/bin/oc-etcd_medic
	install -m 0644 etcd-medic.1 $(DESTDIR)$(PREFIX)/share/man/man1/etcd-medic.1

# An OCI image without a container engine (image/oci.py; docs/in-cluster.md): $(BUILD)/image (an OCI layout) and
# $(BUILD)/image.tar, the binary with what it loads. LAZY_SONAMES: the libraries it dlopens on first use
# (bindings/base/curl_lazy.c, crypto_lazy.c, tls_material.c, host/edit_lazy.c; tests/install/image_test.sh checks).
VERSION      = $(shell sed -n 's/^\#define MEDIC_VERSION "\(.*\)"/\1/p' host/options.h)
LAZY_SONAMES = libcurl.so.4 libssl.so.3 libcrypto.so.3 libedit.so.2
image: $(BUILD)/etcd-medic image/oci.py
	@python3 image/oci.py $(BUILD)/etcd-medic $(BUILD)/image $(VERSION) $(LAZY_SONAMES)

# The plugin's release archive and its krew manifest with the archive's sha256 (plugins/etcd-medic.yaml).
dist: $(BUILD)/etcd-medic plugins/etcd-medic.yaml
	@mkdir -p $(BUILD)/dist
	tar -czf $(BUILD)/dist/etcd-medic-linux-amd64.tar.gz --owner=0 --group=0 -C $(BUILD) etcd-medic \
		-C $(CURDIR) etcd-medic.1
	sed "s/sha256: .*/sha256: $$(sha256sum $(BUILD)/dist/etcd-medic-linux-amd64.tar.gz | cut -d' ' -f1)/; \
		s/version: .*/version: v$(VERSION)/" plugins/etcd-medic.yaml > $(BUILD)/dist/etcd-medic.yaml

# Lua lint (luacheck, config in .luacheckrc): any warning fails, as -Werror does for C.
LINT_LUA = $(sort $(shell find scripts tests/lua bench/lua -name '*.lua' 2>/dev/null) \
           $(wildcard tests/integration/*.lua tests/reliability/*.lua))
lint: | $(DEPS_STAMP)
	@luacheck -q --codes --no-color $(LINT_LUA)

# The whole suite: lint, unit, Lua specs, REPL, the same under ASan/UBSan, the testbed's fidelity, replays of real
# clusters, integration, e2e.
test: lint test-unit test-lua test-repl test-asan test-testbed test-replay test-integration test-e2e test-security \
      test-reliability-quick test-install

test-unit: $(UNIT_BIN)
	@LAYOUT_BUILD=$(BUILD) tests/run-tests unit $(UNIT_BIN) tests/layout_test.py

test-lua: $(BUILD)/etcd-medic
	@MEDIC=$(BUILD)/etcd-medic tests/run-tests lua $(sort $(wildcard tests/lua/*_spec.lua))

test-repl: $(BUILD)/etcd-medic
	@MEDIC=$(BUILD)/etcd-medic tests/run-tests repl $(sort $(wildcard tests/repl/*_test.sh))

test-asan:
	$(MAKE) BUILD=build/asan CC=clang CFLAGS="-O1 -g $(SAN)" LDFLAGS="$(SAN)" test-unit test-lua
	$(MAKE) BUILD=build/asan CC=clang CFLAGS="-O1 -g $(SAN)" LDFLAGS="$(SAN)" MEDIC_SANITIZED=1 test-integration \
		test-replay

test-testbed:
	@tests/run-tests testbed $(sort $(wildcard tests/testbed/*_test.py tests/testbed/*_test.sh))

# The tool against read-only replays of real clusters' captures (../shared/realdata; docs/replay.md).
test-replay: $(BUILD)/etcd-medic
	@MEDIC=$(BUILD)/etcd-medic tests/run-tests replay tests/replay/replay_test.py

test-integration: $(BUILD)/etcd-medic
	@MEDIC=$(BUILD)/etcd-medic MEDIC_SANITIZED=$(MEDIC_SANITIZED) tests/integration/run

# What `make install` and `make image` make: the plugin links (oc etcd-medic), the image run with chroot.
test-install: $(BUILD)/etcd-medic image
	@MEDIC=$(BUILD)/etcd-medic IMAGE=$(BUILD)/image tests/run-tests install $(sort $(wildcard tests/install/*_test.sh))

test-security: $(BUILD)/etcd-medic
	@MEDIC=$(BUILD)/etcd-medic tests/run-tests security $(sort $(wildcard tests/security/*_test.sh))

test-e2e: $(BUILD)/etcd-medic
	@MEDIC=$(BUILD)/etcd-medic tests/run-tests e2e $(sort $(wildcard tests/e2e/*_test.sh))

demo: $(BUILD)/etcd-medic
	@MEDIC=$(BUILD)/etcd-medic tests/demo

# libFuzzer targets: fuzz/T.c is one target, linked with the explicit source list FUZZ_SRC_T below.
# Seeds and kept crash inputs: fuzz/corpus/T/ (read too; new finds go to the build dir's corpus).
# One line per target in fuzz/README.md: its input and the property checked.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS  = etcd_boltrev etcd_id etcd_snapshot json k8s_exec kubeconfig websocket
FUZZ_BIN      = $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
FUZZ_FLOOR    = bindings/base/log.c bindings/base/interrupt.c
FUZZ_CRYPTO   = bindings/base/crypto_lazy.c bindings/base/lazylib.c
FUZZ_SRC_etcd_boltrev  = bindings/etcd/etcd_boltrev.c
FUZZ_SRC_etcd_id       = bindings/etcd/etcd_id.c bindings/etcd/etcd_error.c
FUZZ_SRC_etcd_snapshot = bindings/etcd/etcd_snapshot.c bindings/etcd/etcd_snapshot_check.c \
                         bindings/etcd/etcd_snapshot_grpc.c bindings/etcd/etcd_snapshot_json.c $(FUZZ_CRYPTO)
FUZZ_SRC_json          = bindings/json/json.c bindings/json/json_encode.c
FUZZ_SRC_k8s_exec      = bindings/k8s/k8s_exec.c bindings/k8s/k8s.c bindings/k8s/k8s_auth.c bindings/k8s/websocket.c \
                         $(FUZZ_SRC_kubeconfig) bindings/base/http.c bindings/base/http_raw.c \
                         bindings/base/tls_material.c \
                         bindings/base/curl_lazy.c bindings/base/clock.c $(FUZZ_SRC_json) $(FUZZ_CRYPTO)
FUZZ_SRC_kubeconfig    = bindings/k8s/kubeconfig.c bindings/k8s/kubeconfig_load.c bindings/k8s/kubeconfig_exec.c \
                         bindings/k8s/kubeconfig_doc.c
FUZZ_SRC_websocket     = bindings/k8s/websocket.c $(FUZZ_CRYPTO)
fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do s=fuzz/corpus/$${f##*/}; mkdir -p $$f.corpus; \
		$$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 -timeout=10 -artifact_prefix=$$f- \
		$$f.corpus $$(test -d $$s && echo $$s) >$$f.log 2>&1; rc=$$?; echo "== $${f##*/}"; tail -3 $$f.log; \
		[ $$rc -eq 0 ] || { echo "fuzz: $$f failed (see $$f.log)"; exit 1; }; done

.SECONDEXPANSION:
$(FUZZ_BIN): $(BUILD)/fuzz/%: fuzz/%.c $$(FUZZ_SRC_$$*) $(FUZZ_FLOOR) $(BINDING_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	clang $(CPPFLAGS_ALL) -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_SRC_$*) $(FUZZ_FLOOR) $(LIBS)

# The fault matrix on the testbed (long; QUICK=1 runs a few cases). Not part of `make test`.
reliability: $(BUILD)/etcd-medic
	@MEDIC=$(BUILD)/etcd-medic tests/reliability/run $(if $(QUICK),--quick)
	@MEDIC=$(BUILD)/etcd-medic bash tests/reliability/valgrind_test.sh

test-reliability-quick: $(BUILD)/etcd-medic
	@MEDIC=$(BUILD)/etcd-medic tests/reliability/run --quick

bench: $(BUILD)/etcd-medic
	@MEDIC=$(BUILD)/etcd-medic bench/run

clean:
	rm -rf $(BUILD)

# horizon — build, test, bench, install.  See README.md.
#   make deps     install the Debian packages (apt-get; sudo when not root; no-op when present)
#   make          build/horizon and build/horizond
#   make test     deps, build, every cmocka suite and script test, then again under ASan/UBSan
#   make bench    benchmarks (print tables; never fail on a number)
#   make demo     the README's main job on the bundled sample
#   make fuzz     every fuzz target (fuzz/) under libFuzzer for FUZZ_SECONDS each (clang)
#   make install  PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
PKGS    := rdkafka sqlite3 yaml-0.1 openblas jansson libsystemd libmicrohttpd libcrypto
DEB_PKGS := librdkafka-dev libsqlite3-dev sqlite3 libyaml-dev libopenblas-dev libcmocka-dev \
            libjansson-dev libsystemd-dev libmicrohttpd-dev libssl-dev kcat curl pkg-config \
            clang libclang-rt-dev chromium gcc make valgrind

# Recursive (=) so pkg-config runs only when a compile needs it, after `make deps`.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wvla
CSTD    := -std=c11 -D_GNU_SOURCE
INCS    := -I.
# Layers, lowest first; a file includes only its own folder and the folders before it
# (tests/tools/check_layers.sh, `make check-layers`).  service/ and cli/ are the two programs.
LAYERS  := common config engine connectors models training pipeline service cli
OPT     ?= -O2 -g
# Vectorise the elementwise loops: the dynamic cost model (-O2 alone vectorises almost none),
# and no FP traps or errno to preserve (nothing here reads either).
FPOPT   := -fvect-cost-model=dynamic -fno-trapping-math -fno-math-errno
Q       ?= @
CFLAGS_ALL = $(CSTD) $(OPT) $(FPOPT) $(WARN) $(INCS) $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
SAN     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC  := $(filter-out service/main.c cli/main.c,$(wildcard $(addsuffix /*.c,$(LAYERS))))
# The engine alone, rebuilt with hz_real = double for finite-difference gradient checks.
DBL_SRC  := $(wildcard common/*.c engine/*.c)
TEST_SRC := $(wildcard tests/unit/test_*.c)
DTEST_SRC := $(wildcard tests/unit/dtest_*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
BENCH_SRC := $(wildcard bench/*.c)
PROGS    := horizon horizond

# Object lists for one build flavour ($1 = output dir).
objs = $(patsubst %.c,$1/obj/%.o,$2)

LIB_OBJ    := $(call objs,$(BUILD),$(LIB_SRC))
SLIB_OBJ   := $(call objs,$(BUILD)/asan,$(LIB_SRC))
DLIB_OBJ   := $(call objs,$(BUILD)/dbl,$(DBL_SRC))
TESTS      := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
STESTS     := $(patsubst tests/unit/%.c,$(BUILD)/asan/tests/%,$(TEST_SRC))
DTESTS     := $(patsubst tests/unit/%.c,$(BUILD)/dbl/tests/%,$(DTEST_SRC))
SDTESTS    := $(patsubst tests/unit/%.c,$(BUILD)/asan/dbl/tests/%,$(DTEST_SRC))
TOOLS      := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))
BENCHES    := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

# Fuzz targets (fuzz/, docs/RELIABILITY.md "Fuzzing"): the entry points of fuzz/fuzz.h, built
# into libFuzzer programs by clang and, with the normal compiler, into test_fuzz_regress.
FUZZ_SRC := $(filter-out fuzz/libfuzzer.c,$(wildcard fuzz/*.c))
FUZZ_TARGETS := config json csv timestamp safetensors meta http

.SECONDARY:
.PHONY: all deps test test-build check check-asan check-layers check-unit check-e2e bench demo demo-nilm install clean \
        format format-check tools fuzz fuzz-build faults soak valgrind
all: $(addprefix $(BUILD)/,$(PROGS)) $(TOOLS) $(BENCHES) $(BUILD)/bench_attention

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all present"; exit 0; fi; \
	echo "deps: installing$$missing"; \
	SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing

# ---- normal build
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libhorizon.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/horizon: $(BUILD)/obj/cli/main.o $(BUILD)/libhorizon.a
	$(CC) $(OPT) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/horizond: $(BUILD)/obj/service/main.o $(BUILD)/libhorizon.a
	$(CC) $(OPT) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

# objects before the library (a suite may list more objects: test_fuzz_regress below)
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libhorizon.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(CMOCKA_LIBS) $(PKG_LIBS) $(LDFLAGS)

# the regression suite of the fuzz targets links their entry points
$(BUILD)/tests/test_fuzz_regress: $(call objs,$(BUILD),$(FUZZ_SRC))
$(BUILD)/asan/tests/test_fuzz_regress: $(call objs,$(BUILD)/asan,$(FUZZ_SRC))

$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(BUILD)/libhorizon.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

# the encoder benchmark also at build/bench_attention (bench/attention.sh and older notes use it)
$(BUILD)/bench_attention: $(BUILD)/bench/bench_attention
	ln -sf bench/bench_attention $@

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libhorizon.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

# ---- double-precision tensor core (gradient checks)
$(BUILD)/dbl/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC dbl  $<"
	$(Q)$(CC) $(CFLAGS_ALL) -DHZ_DOUBLE -c $< -o $@

$(BUILD)/dbl/libhzdbl.a: $(DLIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/dbl/tests/%: $(BUILD)/dbl/obj/tests/unit/%.o $(BUILD)/dbl/libhzdbl.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS) $(LDFLAGS)

# ---- sanitizer build of the same suites
$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC asan $<"
	$(Q)$(CC) $(CSTD) $(SAN) $(WARN) $(INCS) $(PKG_CFLAGS) -MMD -MP $(CFLAGS) -c $< -o $@

$(BUILD)/asan/dbl/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC asan-dbl $<"
	$(Q)$(CC) $(CSTD) $(SAN) $(WARN) $(INCS) $(PKG_CFLAGS) -MMD -MP $(CFLAGS) -DHZ_DOUBLE -c $< -o $@

$(BUILD)/asan/libhorizon.a: $(SLIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/asan/dbl/libhzdbl.a: $(call objs,$(BUILD)/asan/dbl,$(DBL_SRC))
	rm -f $@ && ar rcs $@ $^

$(BUILD)/asan/tests/%: $(BUILD)/asan/obj/tests/unit/%.o $(BUILD)/asan/libhorizon.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(CMOCKA_LIBS) $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/asan/dbl/tests/%: $(BUILD)/asan/dbl/obj/tests/unit/%.o $(BUILD)/asan/dbl/libhzdbl.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/asan/horizon: $(BUILD)/asan/obj/cli/main.o $(BUILD)/asan/libhorizon.a
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/asan/horizond: $(BUILD)/asan/obj/service/main.o $(BUILD)/asan/libhorizon.a
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/asan/tools/%: $(BUILD)/asan/obj/tests/tools/%.o $(BUILD)/asan/libhorizon.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

# ---- fuzzing: clang's libFuzzer with ASan/UBSan over the library and the entry points
#   make fuzz                       every target for FUZZ_SECONDS (default 60) each, then a table
#   make fuzz FUZZ=csv FUZZ_SECONDS=10   one target
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
# clang ignores the GCC-only optimisation pragmas (engine/gemm_small.c): not an error here
FUZZ_CFLAGS   = $(CSTD) $(FUZZ_SAN) $(WARN) -Wno-unknown-pragmas $(INCS) $(PKG_CFLAGS) $(CFLAGS)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC fuzz $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/libfuzz.a: $(call objs,$(BUILD)/fuzz,$(LIB_SRC) $(FUZZ_SRC))
	rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: fuzz/libfuzzer.c fuzz/fuzz.h $(BUILD)/fuzz/libfuzz.a
	@echo "  LD fuzz $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -DHZ_FUZZ_ENTRY=hz_fuzz_$* -o $@ \
	    fuzz/libfuzzer.c $(BUILD)/fuzz/libfuzz.a $(PKG_LIBS) $(LDFLAGS)

fuzz-build: $(addprefix $(BUILD)/fuzz/fuzz_,$(or $(FUZZ),$(FUZZ_TARGETS)))

fuzz: fuzz-build
	BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(or $(FUZZ),$(FUZZ_TARGETS))

# ---- running
# tests/run.sh runs every suite binary in a directory, then every tests/e2e/*.sh script.
#   make check-unit                   the cmocka suites only (tests/unit)
#   make check-unit SUITE=test_csv    one suite
#   make check-e2e [E2E=daemon_kafka] the scripts (or one)
check: check-layers all $(TESTS) $(DTESTS)
	BUILD=$(BUILD) BIN=$(BUILD) tests/run.sh $(BUILD)/tests $(BUILD)/dbl/tests

check-layers:
	@tests/tools/check_layers.sh

check-unit: $(TESTS) $(DTESTS)
	@if [ -n "$(SUITE)" ]; then E2E=0 tests/run.sh $(filter %/$(SUITE),$(TESTS) $(DTESTS)); \
	else BUILD=$(BUILD) BIN=$(BUILD) E2E=0 tests/run.sh $(BUILD)/tests $(BUILD)/dbl/tests; fi

check-e2e: all
	BUILD=$(BUILD) BIN=$(BUILD) E2E=$(or $(E2E),all) tests/run.sh

check-asan: $(STESTS) $(SDTESTS) $(addprefix $(BUILD)/asan/,$(PROGS)) $(patsubst $(BUILD)/%,$(BUILD)/asan/%,$(TOOLS))
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	BUILD=$(BUILD) BIN=$(BUILD)/asan tests/run.sh $(BUILD)/asan/tests $(BUILD)/asan/dbl/tests

# Both flavours built first, on every core (the runs themselves keep their own pace).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test:
	$(MAKE) deps
	$(MAKE) -j$(JOBS) test-build
	$(MAKE) check
	$(MAKE) check-asan

test-build: all $(TESTS) $(DTESTS) $(STESTS) $(SDTESTS) $(addprefix $(BUILD)/asan/,$(PROGS)) \
            $(patsubst $(BUILD)/%,$(BUILD)/asan/%,$(TOOLS))
	@echo "make test: all suites passed (normal and ASan/UBSan)"

bench: all
	BUILD=$(BUILD) bench/run.sh

# The fault tests at full length, normal and ASan/UBSan builds (tests/faults.sh), and the
# soak: SOAK_SECONDS (600) of a steady 20k readings/s over 10k series (bench/soak.sh).
# docs/RELIABILITY.md holds their figures.
faults: all $(addprefix $(BUILD)/asan/,$(PROGS)) $(patsubst $(BUILD)/%,$(BUILD)/asan/%,$(TOOLS))
	BUILD=$(BUILD) tests/faults.sh

SOAK_SECONDS ?= 600
soak: all
	BUILD=$(BUILD) SOAK_SECONDS=$(SOAK_SECONDS) bench/soak.sh

# End-to-end tests with horizond under valgrind's memcheck (tests/valgrind.sh).
valgrind: all
	BUILD=$(BUILD) tests/valgrind.sh

demo:
	$(MAKE) deps
	$(MAKE) all
	BUILD=$(BUILD) ./demo.sh

# disaggregation of the bundled household: two appliance models trained, then horizond
demo-nilm:
	$(MAKE) deps
	$(MAKE) all
	BUILD=$(BUILD) ./demo_nilm.sh

# Programs under PREFIX; the unit, sysusers.d and tmpfiles.d snippets under PREFIX/lib (systemd
# reads /usr/local/lib/... too), the unit's paths rewritten for PREFIX; the example config as
# SYSCONFDIR/horizon/horizon.yaml unless one exists.  Then: deploy/README.md.
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/lib/tmpfiles.d
	install -m 0755 $(BUILD)/horizon $(BUILD)/horizond $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/usr/local/share/|$(PREFIX)/share/|g' \
	    -e 's|/etc/horizon/|$(SYSCONFDIR)/horizon/|g' deploy/horizond.service >$(BUILD)/horizond.service
	install -m 0644 $(BUILD)/horizond.service $(DESTDIR)$(UNITDIR)/horizond.service
	install -m 0644 deploy/horizon.sysusers.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/horizon.conf
	install -m 0644 deploy/horizon.tmpfiles.conf $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/horizon.conf
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/horizon
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/horizon/horizon.yaml ]; then \
	    echo "install: keeping the existing $(DESTDIR)$(SYSCONFDIR)/horizon/horizon.yaml"; \
	else \
	    echo "install -m 0640 deploy/horizon.yaml $(DESTDIR)$(SYSCONFDIR)/horizon/horizon.yaml"; \
	    install -m 0640 deploy/horizon.yaml $(DESTDIR)$(SYSCONFDIR)/horizon/horizon.yaml; \
	fi

clean:
	rm -rf $(BUILD)

FMT_SRC = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(FMT_SRC)
format-check:
	clang-format --dry-run --Werror $(FMT_SRC)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

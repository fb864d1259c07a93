# cfutures — one non-recursive Makefile.
#
#   make            libcfutures.a and libcfutures.so
#   make demo       build and run every example (mandelbrot writes
#                   $(BUILD)/mandelbrot.png) and a tiny cfmap run
#   make cfmap      the cfmap tool, $(BUILD)/cfmap
#   make test       build and run the Criterion suite
#   make test SANITIZE=address,undefined   the same under ASan+UBSan
#   make test-threading SANITIZE=thread    the threading tests under TSan
#   make bench      one table of figures beside anchors measured in the same
#                   run, also written to bench/RESULTS.md (never fails on time)
#   make fuzz       libFuzzer over the record decoder and the ring, each for
#                   FUZZ_SECONDS (default 60); fails on any crash or hang
#   make install    headers, libraries, pkg-config and CMake files under
#                   $(DESTDIR)$(PREFIX) (PREFIX=/usr/local); make uninstall
#   make docs       the API reference from the headers (Doxygen), build/docs
#   make mpi        libcfutures_mpi, the executor across MPI ranks; make test,
#                   demo, bench and install include it when an MPI compiler
#                   wrapper exists (the "MPI" section below)
#
# Missing Debian packages are installed by tools/deps.sh on first use.

# Before 1.0 each minor version may change the ABI (0.2.0:
# cf_process_pool_options grew a field; 0.3.0: cf_submit_options grew
# `poll` and zero fields of every options struct mean the defaults), so the
# soname carries major.minor.
# The version is the header's (CF_VERSION_MAJOR/MINOR/PATCH).
version_part = $(shell sed -n 's/^\#define CF_VERSION_$(1) \([0-9]*\)$$/\1/p' include/cfutures.h)
VERSION   := $(call version_part,MAJOR).$(call version_part,MINOR).$(call version_part,PATCH)
SOVERSION := $(call version_part,MAJOR).$(call version_part,MINOR)
SONAME    := libcfutures.so.$(SOVERSION)

CC       ?= cc

# Quiet by default: one "CC executor/map.o" line per step; V=1 prints the
# full commands. $(call quiet,TAG) prefixes a recipe line.
V ?= 0
quiet = $(if $(filter 1,$(V)),,@printf '  %-3s %s\n' '$(1)' '$(patsubst $(BUILD)/%,%,$@)';)

# Parallel by default (the suite's compile dominated a serial `make test`):
# one job per CPU unless the command line says -j.
# (Only at the top: a sub-make, such as test's test-mpi, shares its
# parent's jobs.)
ifeq ($(filter -j%,$(MAKEFLAGS))$(filter-out 0,$(MAKELEVEL)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
SANITIZE ?=
comma    := ,
BUILD    ?= build$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))

# Evaluated lazily (=), so pkg-config runs only after deps are installed.
MSGPACK_PC     = $(shell pkg-config --exists msgpack-c 2>/dev/null && echo msgpack-c || echo msgpack)
MSGPACK_CFLAGS = $(shell pkg-config --cflags $(MSGPACK_PC))
MSGPACK_LIBS   = $(shell pkg-config --libs $(MSGPACK_PC))
CRITERION_LIBS = $(shell pkg-config --libs criterion)
PNG_CFLAGS     = $(shell pkg-config --cflags libpng)
PNG_LIBS       = $(shell pkg-config --libs libpng)

OPT      ?= -O2 -g
SANFLAGS  = $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -pthread \
             $(OPT) $(SANFLAGS) -Iinclude -I. $(MSGPACK_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = -pthread $(SANFLAGS) $(LDFLAGS)
LIBS_ALL    = $(MSGPACK_LIBS) -lrt

LIB_DIRS := common ipc serialize workers executor threading
LIB_SRCS := $(sort $(wildcard $(addsuffix /*.c,$(LIB_DIRS))))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS := $(sort $(wildcard tests/*.c))
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/%.o)
# The in-process threading tests (tests/test_th_*.c, helpers tests/th_*.c)
# also form a binary of their own, for ThreadSanitizer, which does not
# support the process pool's fork from a threaded parent.  Criterion's runner
# cannot start under TSan (Snaipe/Criterion#274), so that binary is built
# against a small Criterion-compatible shim instead (tests/criterion-shim:
# its headers come first on the include path; its runner replaces
# -lcriterion), with objects of its own under $(BUILD)/tests-shim.
SHIM_DIR     := tests/criterion-shim
TH_TEST_SRCS := $(sort $(wildcard tests/test_th_*.c tests/th_*.c))
TH_TEST_OBJS := $(patsubst %.c,$(BUILD)/tests-shim/%.o,$(TH_TEST_SRCS) $(SHIM_DIR)/runner.c)
# examples/mpi_*.c and bench/mpi_*.c need an MPI compiler: the MPI section
# builds them.
EXAMPLE_SRCS := $(sort $(filter-out examples/mpi_%.c,$(wildcard examples/*.c)))
EXAMPLES := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)
BENCH_SRCS := $(sort $(filter-out bench/mpi_%.c,$(wildcard bench/*.c)))
BENCHES := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

STATIC_LIB := $(BUILD)/libcfutures.a
# The suite links a variant with the fault-injection points of ipc/fault.h
# compiled in (tests arm them to kill processes at the worst moments); the
# library people link never contains them.
FAULT_OBJS := $(LIB_SRCS:%.c=$(BUILD)/faults/%.o)
FAULT_LIB  := $(BUILD)/libcfutures-faults.a
SHARED_LIB := $(BUILD)/libcfutures.so
TEST_BIN   := $(BUILD)/tests/cfutures-tests
TH_TEST_BIN := $(BUILD)/tests/cfutures-threading-tests
DEPS_STAMP := build/.deps-ok

CFMAP := $(BUILD)/cfmap

.PHONY: all test test-threading test-shim demo bench clean deps cfmap install uninstall docs
all: $(STATIC_LIB) $(SHARED_LIB) $(CFMAP)
	@$(if $(HAVE_MPI),$(MAKE) --no-print-directory mpi)

deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/deps.sh
	@sh tools/deps.sh
	@mkdir -p $(@D) && touch $@

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(call quiet,CC)$(CC) $(CFLAGS_ALL) $(EXTRA_CFLAGS) -MMD -MP -c $< -o $@

# The shared library exports only what the headers mark CF_API
# (tests/check_exports.sh checks it after the suite).
$(LIB_OBJS): EXTRA_CFLAGS := -fvisibility=hidden

# Tests see the fault-injection API (ipc/fault.h) of the library they link.
$(TEST_OBJS): EXTRA_CFLAGS := -DCF_FAULT_INJECTION

$(BUILD)/faults/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(call quiet,CC)$(CC) $(CFLAGS_ALL) -DCF_FAULT_INJECTION -MMD -MP -c $< -o $@

$(FAULT_LIB): $(FAULT_OBJS)
	@rm -f $@
	$(call quiet,AR)$(AR) rcs $@ $^

$(STATIC_LIB): $(LIB_OBJS)
	@rm -f $@
	$(call quiet,AR)$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS)
	$(call quiet,LD)$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(TEST_BIN): $(TEST_OBJS) $(FAULT_LIB)
	$(call quiet,LD)$(CC) $(LDFLAGS_ALL) -o $@ $(TEST_OBJS) $(FAULT_LIB) $(CRITERION_LIBS) $(LIBS_ALL)

$(BUILD)/examples/%: $(BUILD)/examples/%.o $(STATIC_LIB)
	$(call quiet,LD)$(CC) $(LDFLAGS_ALL) -o $@ $< $(STATIC_LIB) $(LIBS_ALL) -lm

# bench/cpu.c holds the OpenMP anchor (libgomp, part of Debian's gcc).
$(BUILD)/bench/cpu.o: EXTRA_CFLAGS := -fopenmp
$(BUILD)/bench/cpu: BENCH_LDFLAGS := -fopenmp

# Issue 15's anchors and event-loop examples link libuv and GLib
# (tools/deps.sh installs libuv1-dev and libglib2.0-dev); only these.
UV_GLIB_CFLAGS = $(shell pkg-config --cflags libuv glib-2.0)
UV_GLIB_LIBS   = $(shell pkg-config --libs libuv glib-2.0)
UV_GLIB_USERS := $(BUILD)/bench/inproc $(BUILD)/examples/loop_libuv $(BUILD)/examples/loop_glib
$(UV_GLIB_USERS:%=%.o): EXTRA_CFLAGS += $(UV_GLIB_CFLAGS)
$(UV_GLIB_USERS): LIBS_ALL += $(UV_GLIB_LIBS)

# cfmap: a command per input line on N workers, like xargs -P (tools/cfmap.c).
cfmap: $(CFMAP)
$(CFMAP): $(BUILD)/tools/cfmap.o $(STATIC_LIB)
	$(call quiet,LD)$(CC) $(LDFLAGS_ALL) -o $@ $< $(STATIC_LIB) $(LIBS_ALL)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(STATIC_LIB)
	$(call quiet,LD)$(CC) $(LDFLAGS_ALL) $(BENCH_LDFLAGS) -o $@ $< $(STATIC_LIB) $(LIBS_ALL) -lm

# The suite is one Criterion binary built from one file per subject;
# tests/run.sh runs it under the reaper (tests/reaper/reaper.c), which
# fails the run if it left a process or a /dev/shm object of its own.
# tests/test_cfmap.c also runs the tool it finds next to the test binary.
# The export check runs first so that the suite's summary is the last line;
# so does the check that every Test() sets its own .timeout. A test that
# hangs past its timeout anyway (Criterion's timer runs inside the test's
# process) is named and killed by the reaper, and the run goes on; set
# CF_TEST_DEADLINE=SECONDS to bound a whole run as well.
# The reaper is built without sanitizers: it only forks, waits and reads
# /proc, and must not itself be what a sanitizer run is about.
REAPER := $(BUILD)/tests/cf-test-reaper
$(REAPER): tests/reaper/reaper.c tests/reaper/proc_stat.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(call quiet,LD)$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -o $@ $<

test: $(TEST_BIN) $(CFMAP) $(SHARED_LIB) $(REAPER)
	@sh tests/compile_check.sh "$(CC)" "$(MSGPACK_CFLAGS)"
	@sh tests/man_check.sh
	@sh tests/layer_check.sh
	@sh tests/check_exports.sh $(SHARED_LIB)
	@sh tests/check_timeouts.sh $(TEST_SRCS)
	@sh tests/run.sh $(TEST_BIN)
	@$(if $(HAVE_MPI),$(MAKE) --no-print-directory test-mpi,echo "no $(MPICC): MPI tests skipped")

$(BUILD)/tests-shim/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(call quiet,CC)$(CC) -I$(SHIM_DIR) $(CFLAGS_ALL) -DCF_FAULT_INJECTION -MMD -MP -c $< -o $@

$(TH_TEST_BIN): $(TH_TEST_OBJS) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(call quiet,LD)$(CC) $(LDFLAGS_ALL) -o $@ $(TH_TEST_OBJS) $(STATIC_LIB) $(LIBS_ALL)

# make test-threading SANITIZE=thread: the threading tests under TSan.
test-threading: $(TH_TEST_BIN) $(REAPER)
	@sh tests/run.sh $(TH_TEST_BIN)

# make test-shim SANITIZE=thread: the whole suite (process pool included)
# under TSan, through the shim runner. The pool forks its fork server from
# a threaded parent; TSan accepts that because no child starts a thread.
ALL_SHIM_OBJS := $(patsubst %.c,$(BUILD)/tests-shim/%.o,$(TEST_SRCS) $(SHIM_DIR)/runner.c)
SHIM_TEST_BIN := $(BUILD)/tests/cfutures-tests-shim
$(SHIM_TEST_BIN): $(ALL_SHIM_OBJS) $(FAULT_LIB)
	@mkdir -p $(@D)
	$(call quiet,LD)$(CC) $(LDFLAGS_ALL) -o $@ $(ALL_SHIM_OBJS) $(FAULT_LIB) $(LIBS_ALL)

# Under TSan it skips what TSan cannot judge or cannot run in time: the
# process-shared primitives synchronise across processes, which TSan does
# not see (it reports a robust mutex handed over by a dead owner as a bad
# unlock), and the 256 MiB payload tests crawl under its instrumented memcpy.
TSAN_SKIP := !(psync_*/*|pshared/*|side/large_segment_across_fork|process_pool/huge_argument_echoed)
SHIM_FILTER ?= $(if $(findstring thread,$(SANITIZE)),$(TSAN_SKIP),*)

test-shim: $(SHIM_TEST_BIN) $(CFMAP) $(REAPER)
	@sh tests/run.sh $(SHIM_TEST_BIN) -j2 --filter '$(SHIM_FILTER)'

# The Mandelbrot example and its test write and read PNGs with libpng; the
# test shares the example's kernel (examples/mandelbrot_kernel.h).
PNG_USERS := $(BUILD)/examples/mandelbrot.o $(BUILD)/tests/test_mandelbrot.o \
             $(BUILD)/tests-shim/tests/test_mandelbrot.o
$(PNG_USERS): EXTRA_CFLAGS += $(PNG_CFLAGS)
$(BUILD)/examples/mandelbrot $(TEST_BIN) $(SHIM_TEST_BIN): LIBS_ALL += $(PNG_LIBS)

demo: $(EXAMPLES) $(CFMAP)
	@for e in $(EXAMPLES); do echo "== $$e"; \
	    case $$e in */mandelbrot) $$e $(BUILD)/mandelbrot.png ;; *) $$e ;; esac || exit 1; \
	done
	@echo "== $(CFMAP) -j 2 expr {} '*' {} (squares of 1..5, in input order)"
	@seq 1 5 | $(CFMAP) -j 2 expr {} '*' {}
	@$(if $(HAVE_MPI),$(MAKE) --no-print-directory demo-mpi)

# bench/run.sh runs the CPython anchor and every bench, prints one table
# and writes it to bench/RESULTS.md (bench/README.md).
bench: $(BENCHES) $(CFMAP)
	@sh bench/run.sh $(BUILD)/bench
	@$(if $(HAVE_MPI),$(MAKE) --no-print-directory bench-mpi)

# ---- install ----
# make install PREFIX=/usr/local DESTDIR=/staging: the headers, the shared
# library (real name libcfutures.so.$(VERSION), soname link .so.$(SOVERSION), dev link
# .so), the static library, cfutures.pc and the CMake package, cfmap and
# the man pages
# (find_package(cfutures), target cfutures::cfutures). The .pc and CMake
# files are made from tools/*.in with the PREFIX and the msgpack pkg-config
# name of this build. make uninstall removes exactly INSTALLED, then our own
# two directories (include/cfutures, lib/cmake/cfutures) when empty.
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR    ?=
INSTALL    ?= install
PC_DIR     := $(LIBDIR)/pkgconfig
CMAKE_DIR  := $(LIBDIR)/cmake/cfutures
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
# cfutures/mpi.h goes with libcfutures_mpi (make install-mpi).
PUB_HEADERS := $(sort $(filter-out include/cfutures/mpi.h,$(wildcard include/cfutures/*.h)))
# man/*.N: section N pages (links are ".so man3/page.3" files).
MAN_PAGES  := $(sort $(wildcard man/*.[137]))
MAN_INSTALLED := $(foreach p,$(MAN_PAGES),$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(notdir $(p)))
INSTALLED  := $(INCLUDEDIR)/cfutures.h $(PUB_HEADERS:include/%=$(INCLUDEDIR)/%) \
              $(LIBDIR)/libcfutures.so.$(VERSION) $(LIBDIR)/$(SONAME) \
              $(LIBDIR)/libcfutures.so $(LIBDIR)/libcfutures.a $(PC_DIR)/cfutures.pc \
              $(CMAKE_DIR)/cfuturesConfig.cmake $(CMAKE_DIR)/cfuturesConfigVersion.cmake \
              $(BINDIR)/cfmap $(MAN_INSTALLED)
SUBST = sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@PREFIX@|$(PREFIX)|g' \
            -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
            -e 's|@PC_LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
            -e 's|@PC_INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|g' \
            -e 's|@SONAME@|$(SONAME)|g' -e 's|@SOVERSION@|$(SOVERSION)|g' \
            -e 's|@MSGPACK_PC@|$(MSGPACK_PC)|g' -e 's|@SIZEOF_VOID_P@|$(shell getconf LONG_BIT | sed 's/64/8/;s/32/4/')|g'

install: $(STATIC_LIB) $(SHARED_LIB) $(CFMAP)
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR)/cfutures $(DESTDIR)$(PC_DIR) $(DESTDIR)$(CMAKE_DIR)
	$(INSTALL) -m 644 include/cfutures.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(PUB_HEADERS) $(DESTDIR)$(INCLUDEDIR)/cfutures/
	$(INSTALL) -m 755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/libcfutures.so.$(VERSION)
	ln -sf libcfutures.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcfutures.so
	$(INSTALL) -m 644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libcfutures.a
	$(SUBST) tools/cfutures.pc.in >$(DESTDIR)$(PC_DIR)/cfutures.pc
	$(SUBST) tools/cfuturesConfig.cmake.in >$(DESTDIR)$(CMAKE_DIR)/cfuturesConfig.cmake
	$(SUBST) tools/cfuturesConfigVersion.cmake.in \
	    >$(DESTDIR)$(CMAKE_DIR)/cfuturesConfigVersion.cmake
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 755 $(CFMAP) $(DESTDIR)$(BINDIR)/cfmap
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	for p in $(MAN_PAGES); do \
	    s=$${p##*.}; $(INSTALL) -m 644 $$p $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; \
	done
	@$(if $(HAVE_MPI),$(MAKE) --no-print-directory install-mpi)

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED) $(MPI_INSTALLED))
	rmdir $(DESTDIR)$(INCLUDEDIR)/cfutures $(DESTDIR)$(CMAKE_DIR) 2>/dev/null || true

# ---- MPI ----
# libcfutures_mpi (include/cfutures/mpi.h, sources in mpi/): the core
# library's objects plus the MPI backend, compiled with the MPI compiler
# wrapper of MPI_FLAVOR (openmpi: mpicc.openmpi / mpiexec.openmpi; mpich:
# mpicc.mpich / mpiexec.mpich; Debian installs both side by side, and
# tools/deps.sh installs them), each flavor in a build directory of its own.
# The core library itself never sees MPI.
#   make mpi              the libraries, static and shared
#   make test-mpi         the MPI tests: one job of 3 ranks (tests/mpi)
#   make demo-mpi         examples/mpi_*.c under mpiexec -n 3 (mpi_mandelbrot
#                         writes $(MPI_BUILD)/mandelbrot.ppm)
#   make bench-mpi        the MPI rows of the bench (bench/mpi_*.c)
#   make install-mpi      header, libraries, cfutures-mpi.pc, cfutures::mpi
#                         (make install runs it; make uninstall undoes it)
# `make test`, `make demo` and `make all` include them when the wrapper exists.
MPI_FLAVOR ?= openmpi
MPICC      := mpicc.$(MPI_FLAVOR)
MPIEXEC    := mpiexec.$(MPI_FLAVOR)
HAVE_MPI    = $(shell command -v $(MPICC) >/dev/null 2>&1 && echo yes)
MPI_BUILD  := $(BUILD)/mpi-$(MPI_FLAVOR)
MPI_SRCS   := $(sort $(wildcard mpi/*.c))
MPI_OBJS   := $(MPI_SRCS:%.c=$(MPI_BUILD)/%.o)
MPI_SONAME := libcfutures_mpi.so.$(SOVERSION)
MPI_STATIC := $(MPI_BUILD)/libcfutures_mpi.a
MPI_SHARED := $(MPI_BUILD)/libcfutures_mpi.so
MPI_EXAMPLES := $(patsubst examples/%.c,$(MPI_BUILD)/examples/%,$(sort $(wildcard examples/mpi_*.c)))
MPI_BENCHES  := $(patsubst bench/%.c,$(MPI_BUILD)/bench/%,$(sort $(wildcard bench/mpi_*.c)))
MPI_TEST_BIN := $(MPI_BUILD)/tests/cfutures-mpi-tests
# Open MPI refuses root and more ranks than cores unless told; MPICH
# ignores these. Sanitized MPI jobs run without LeakSanitizer: the MPI
# libraries keep their allocations until exit. Under ThreadSanitizer
# (make test-mpi SANITIZE=thread, Open MPI) tests/mpi/tsan.supp silences
# reports from inside the MPI libraries, which are not built for it.
MPI_ENV := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
           OMPI_MCA_rmaps_base_oversubscribe=1 \
           $(if $(SANITIZE),ASAN_OPTIONS=detect_leaks=0) \
           $(if $(findstring thread,$(SANITIZE)),TSAN_OPTIONS=suppressions=$(CURDIR)/tests/mpi/tsan.supp)
MPI_RANKS ?= 3
# The pkg-config name of the flavor's C library (Debian: ompi-c, mpich).
MPI_PC      = $(if $(filter mpich,$(MPI_FLAVOR)),mpich,ompi-c)
# Every job's Open MPI segments go to a directory of its own, removed
# after the job whatever it did (tests/mpi/private_shm.sh): a killed rank
# would otherwise leave them in /dev/shm.
MPI_SHM    := sh tests/mpi/private_shm.sh
MPIRUN     = $(MPI_ENV) $(MPI_SHM) $(MPIEXEC) -n $(MPI_RANKS)

.PHONY: mpi test-mpi demo-mpi bench-mpi install-mpi uninstall-mpi
mpi: $(MPI_STATIC) $(MPI_SHARED)

$(MPI_BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(call quiet,CC)$(MPICC) $(CFLAGS_ALL) $(EXTRA_CFLAGS) -MMD -MP -c $< -o $@

$(MPI_OBJS): EXTRA_CFLAGS := -fvisibility=hidden

$(MPI_STATIC): $(LIB_OBJS) $(MPI_OBJS)
	@rm -f $@
	$(call quiet,AR)$(AR) rcs $@ $^

$(MPI_SHARED): $(LIB_OBJS) $(MPI_OBJS)
	$(call quiet,LD)$(MPICC) -shared -Wl,-soname,$(MPI_SONAME) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(MPI_BUILD)/examples/%: $(MPI_BUILD)/examples/%.o $(MPI_STATIC)
	$(call quiet,LD)$(MPICC) $(LDFLAGS_ALL) -o $@ $< $(MPI_STATIC) $(LIBS_ALL) -lm

$(MPI_BUILD)/bench/%: $(MPI_BUILD)/bench/%.o $(MPI_STATIC)
	$(call quiet,LD)$(MPICC) $(LDFLAGS_ALL) -o $@ $< $(MPI_STATIC) $(LIBS_ALL) -lm

MPI_TEST_OBJS := $(patsubst %.c,$(MPI_BUILD)/%.o,$(sort $(wildcard tests/mpi/*.c)))
$(MPI_TEST_BIN): $(MPI_TEST_OBJS) $(MPI_STATIC)
	$(call quiet,LD)$(MPICC) $(LDFLAGS_ALL) -o $@ $(MPI_TEST_OBJS) $(MPI_STATIC) $(LIBS_ALL)

# One MPI job runs every check (Criterion forks per test, which mpiexec
# cannot host); tests/mpi/run.sh runs it under the reaper and reads its
# closing line.
test-mpi: $(MPI_TEST_BIN) $(MPI_SHARED) $(REAPER)
	@sh tests/check_exports.sh $(MPI_SHARED)
	@$(MPI_ENV) $(MPI_SHM) sh tests/mpi/run.sh $(REAPER) $(MPIEXEC) $(MPI_RANKS) $(MPI_TEST_BIN)

demo-mpi: $(MPI_EXAMPLES)
	@for e in $(MPI_EXAMPLES); do echo "== $(MPIEXEC) -n $(MPI_RANKS) $$e"; \
	    case $$e in */mpi_mandelbrot) $(MPIRUN) $$e $(MPI_BUILD)/mandelbrot.ppm ;; \
	    *) $(MPIRUN) $$e ;; esac || exit 1; done

bench-mpi: $(MPI_BENCHES)
	@$(MPI_ENV) MPI_RANKS=$(MPI_RANKS) $(MPI_SHM) sh bench/mpi_run.sh $(MPIEXEC) $(MPI_BUILD)/bench

MPI_INSTALLED := $(INCLUDEDIR)/cfutures/mpi.h $(LIBDIR)/libcfutures_mpi.so.$(VERSION) \
                 $(LIBDIR)/$(MPI_SONAME) $(LIBDIR)/libcfutures_mpi.so \
                 $(LIBDIR)/libcfutures_mpi.a $(PC_DIR)/cfutures-mpi.pc \
                 $(CMAKE_DIR)/cfutures-mpiTargets.cmake
install-mpi: $(MPI_STATIC) $(MPI_SHARED)
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR)/cfutures $(DESTDIR)$(PC_DIR) $(DESTDIR)$(CMAKE_DIR)
	$(INSTALL) -m 644 include/cfutures/mpi.h $(DESTDIR)$(INCLUDEDIR)/cfutures/
	$(INSTALL) -m 755 $(MPI_SHARED) $(DESTDIR)$(LIBDIR)/libcfutures_mpi.so.$(VERSION)
	ln -sf libcfutures_mpi.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(MPI_SONAME)
	ln -sf $(MPI_SONAME) $(DESTDIR)$(LIBDIR)/libcfutures_mpi.so
	$(INSTALL) -m 644 $(MPI_STATIC) $(DESTDIR)$(LIBDIR)/libcfutures_mpi.a
	$(SUBST) -e 's|@MPI_FLAVOR@|$(MPI_FLAVOR)|g' -e 's|@MPI_PC@|$(MPI_PC)|g' tools/cfutures-mpi.pc.in >$(DESTDIR)$(PC_DIR)/cfutures-mpi.pc
	$(SUBST) -e 's|@MPICC@|$(MPICC)|g' tools/cfutures-mpiTargets.cmake.in \
	    >$(DESTDIR)$(CMAKE_DIR)/cfutures-mpiTargets.cmake

uninstall-mpi:
	rm -f $(addprefix $(DESTDIR),$(MPI_INSTALLED))

-include $(MPI_OBJS:.o=.d) $(MPI_TEST_OBJS:.o=.d) $(MPI_EXAMPLES:=.d) $(MPI_BENCHES:=.d)
# ---- end of MPI ----

# ---- API reference ----
# make docs: Doxygen (docs/Doxyfile) over the public headers into
# build/docs/html; any warning, such as an undocumented public function,
# fails it. tools/deps.sh docs installs doxygen.
DOCS_DEPS := build/.docs-deps-ok
$(DOCS_DEPS): tools/deps.sh
	@sh tools/deps.sh docs
	@mkdir -p $(@D) && touch $@

docs: $(DOCS_DEPS)
	@rm -rf build/docs
	doxygen docs/Doxyfile
	@echo "API reference: build/docs/html/index.html"

# ---- fuzzing (fuzz/README.md) ----
# clang with libFuzzer, ASan and UBSan; the library sources each target
# needs are compiled into build-fuzz/ with the same flags (not the gcc
# archive). Runs work on build-fuzz/corpus/<target>, seeded from
# fuzz/corpus/<target>, which they never write. Crash inputs land in
# build-fuzz/crash/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_DEPS    := $(FUZZ_BUILD)/.deps-ok
FUZZ_CFLAGS   = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -Iinclude -I. \
                $(MSGPACK_CFLAGS)
FUZZ_TARGETS := record ring
FUZZ_record  := fuzz/fuzz_record.c serialize/record.c serialize/validate.c serialize/scalar.c
FUZZ_ring    := fuzz/fuzz_ring.c ipc/ring.c ipc/pshared.c ipc/futex.c ipc/clock.c
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_OBJS    := $(sort $(foreach t,$(FUZZ_TARGETS),$(FUZZ_$(t):%.c=$(FUZZ_BUILD)/%.o)))
FUZZ_RUN      = -max_total_time=$(FUZZ_SECONDS) -timeout=5 -rss_limit_mb=2048 \
                -print_final_stats=1

.PHONY: fuzz
$(FUZZ_DEPS): tools/deps.sh
	@sh tools/deps.sh fuzz
	@mkdir -p $(@D) && touch $@

$(FUZZ_BUILD)/%.o: %.c | $(FUZZ_DEPS)
	@mkdir -p $(@D)
	$(call quiet,CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_record: $(FUZZ_record:%.c=$(FUZZ_BUILD)/%.o)
$(FUZZ_BUILD)/fuzz_ring: $(FUZZ_ring:%.c=$(FUZZ_BUILD)/%.o)
$(FUZZ_BINS):
	$(call quiet,LD)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(MSGPACK_LIBS) -lrt

fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/crash/$$t && \
	    cp fuzz/corpus/$$t/* $(FUZZ_BUILD)/corpus/$$t/ && \
	    echo "== fuzz_$$t for $(FUZZ_SECONDS) s (log: $(FUZZ_BUILD)/fuzz_$$t.log)" && \
	    if $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_RUN) -artifact_prefix=$(FUZZ_BUILD)/crash/$$t/ \
	            $(FUZZ_BUILD)/corpus/$$t >$(FUZZ_BUILD)/fuzz_$$t.log 2>&1; then \
	        grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)' \
	            $(FUZZ_BUILD)/fuzz_$$t.log; \
	        grep -E '^#[0-9]+[[:space:]]+DONE' $(FUZZ_BUILD)/fuzz_$$t.log; \
	    else \
	        tail -n 60 $(FUZZ_BUILD)/fuzz_$$t.log; \
	        echo "fuzz_$$t FAILED; replay: $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_BUILD)/crash/$$t/<file>" >&2; \
	        exit 1; \
	    fi; \
	done

clean:
	rm -rf build build-*

-include $(LIB_OBJS:.o=.d) $(FAULT_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(TH_TEST_OBJS:.o=.d) $(ALL_SHIM_OBJS:.o=.d)
-include $(BUILD)/tools/cfmap.d $(EXAMPLES:=.d) $(BENCHES:=.d)
-include $(FUZZ_OBJS:.o=.d)
.SECONDARY:

# cfutures — one non-recursive Makefile.
#
#   make            libcfutures.a and libcfutures.so
#   make demo       build and run every example
#   make test       build and run the Criterion suite
#   make test SANITIZE=address,undefined   the same under ASan+UBSan
#   make test-threading SANITIZE=thread    the threading tests under TSan
#   make bench      print benchmark figures (never fails on time)
#
# Missing Debian packages are installed by tools/deps.sh on first use.

CC       ?= cc
SANITIZE ?=
comma    := ,
BUILD    ?= build$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))

# Evaluated lazily (=), so pkg-config runs only after deps are installed.
MSGPACK_PC     = $(shell pkg-config --exists msgpack-c 2>/dev/null && echo msgpack-c || echo msgpack)
MSGPACK_CFLAGS = $(shell pkg-config --cflags $(MSGPACK_PC))
MSGPACK_LIBS   = $(shell pkg-config --libs $(MSGPACK_PC))
CRITERION_LIBS = $(shell pkg-config --libs criterion)

OPT      ?= -O2 -g
SANFLAGS  = $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -pthread \
             $(OPT) $(SANFLAGS) -Iinclude -I. $(MSGPACK_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = -pthread $(SANFLAGS) $(LDFLAGS)
LIBS_ALL    = $(MSGPACK_LIBS) -lrt

LIB_DIRS := ipc serialize workers executor threading
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
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
EXAMPLES := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCHES := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

STATIC_LIB := $(BUILD)/libcfutures.a
SHARED_LIB := $(BUILD)/libcfutures.so
TEST_BIN   := $(BUILD)/tests/cfutures-tests
TH_TEST_BIN := $(BUILD)/tests/cfutures-threading-tests
DEPS_STAMP := build/.deps-ok

.PHONY: all test test-threading demo bench clean deps
all: $(STATIC_LIB) $(SHARED_LIB)

deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/deps.sh
	@sh tools/deps.sh
	@mkdir -p $(@D) && touch $@

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(STATIC_LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libcfutures.so.0 $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(TEST_BIN): $(TEST_OBJS) $(STATIC_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $(TEST_OBJS) $(STATIC_LIB) $(CRITERION_LIBS) $(LIBS_ALL)

$(BUILD)/examples/%: $(BUILD)/examples/%.o $(STATIC_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(STATIC_LIB) $(LIBS_ALL) -lm

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(STATIC_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(STATIC_LIB) $(LIBS_ALL) -lm

# The suite is one Criterion binary built from one file per subject;
# tests/run.sh adds the leak checks (/dev/shm, stray workers).
test: $(TEST_BIN)
	@sh tests/run.sh $(TEST_BIN)

$(BUILD)/tests-shim/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -I$(SHIM_DIR) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(TH_TEST_BIN): $(TH_TEST_OBJS) $(STATIC_LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $(TH_TEST_OBJS) $(STATIC_LIB) $(LIBS_ALL)

# make test-threading SANITIZE=thread: the threading tests under TSan.
test-threading: $(TH_TEST_BIN)
	@sh tests/run.sh $(TH_TEST_BIN)

demo: $(EXAMPLES)
	@for e in $(EXAMPLES); do echo "== $$e"; $$e || exit 1; done

bench: $(BENCHES)
	@for b in $(BENCHES); do $$b || exit 1; done

clean:
	rm -rf build build-*

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(TH_TEST_OBJS:.o=.d)
.SECONDARY:

# mpackfs — build, test, fuzz, install.
#   make            build mpack and mpackfs into build/
#   make check      install deps, build, run every test, then again under ASan+UBSan
#   make demo       install deps, build, run the bundled sample end to end
#   make fuzz       run every fuzz target for FUZZ_SECONDS each
#   make bench      benchmarks (not part of check)
#   make install    PREFIX=/usr/local DESTDIR=
#   SAN=1           build with -fsanitize=address,undefined into build-asan/

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= /sbin
MANDIR ?= $(PREFIX)/share/man
CC ?= cc
FUZZ_SECONDS ?= 20

PKGS := fuse3 libcurl libcjson lmdb libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wvla \
	-Wformat=2 -Wno-format-nonliteral
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(WARN) $(CFLAGS) -Isrc \
	$(PKG_CFLAGS)
LDLIBS := $(PKG_LIBS) -lpthread

ifeq ($(SAN),1)
B ?= build-asan
ALL_CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
B ?= build
endif

LIB_SRCS := $(filter-out %_main.c,$(wildcard src/*.c))
LIB_OBJS := $(patsubst src/%.c,$(B)/obj/%.o,$(LIB_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/%,$(UNIT_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRCS))
PROGS := $(B)/mpack $(B)/mpackfs

# A test or fuzz source names the modules it links in a line "/* deps: a b c */",
# so one module can be built and tested while another is being written.
deps_of = $(patsubst %,$(B)/obj/%.o,$(shell sed -n 's,^/\* deps: \(.*\) \*/$$,\1,p' $(1)))
fdeps_of = $(patsubst %,build-fuzz/obj/%.o,$(shell sed -n 's,^/\* deps: \(.*\) \*/$$,\1,p' $(1)))

.PHONY: all check test unit integration fuzz demo bench install uninstall clean lint deps \
	check-asan man-lint
all: $(PROGS)

$(B)/obj/%.o: src/%.c | $(B)/obj
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/obj:
	mkdir -p $@

$(B)/libmpack.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(B)/mpack: $(B)/obj/mpack_main.o $(B)/libmpack.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/mpackfs: $(B)/obj/mpackfs_main.o $(B)/libmpack.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.SECONDARY:
.SECONDEXPANSION:
$(B)/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) $$(call deps_of,tests/unit/test_%.c)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(filter %.o,$^) $(LDLIBS)

$(B)/cachetool: tests/tools/cachetool.c $$(call deps_of,tests/tools/cachetool.c)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(filter %.o,$^) $(LDLIBS)

# The bench's cheapest-FUSE-server baseline (no mpackfs code in it).
$(B)/fusefloor: scripts/bench/fusefloor.c
	@mkdir -p $(B)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc $(PKG_CFLAGS) -Wall -Wextra -Werror \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
build-fuzz/obj/%.o: src/%.c
	@mkdir -p build-fuzz/obj
	clang $(FUZZ_CFLAGS) -c -o $@ $<
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(call fdeps_of,tests/fuzz/fuzz_%.c)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(filter %.o,$^) $(PKG_LIBS) -lpthread

deps:
	./scripts/install-deps.sh

unit: $(UNIT_BINS)
	./scripts/run-unit.sh $(UNIT_BINS)

integration: $(PROGS) $(B)/cachetool
	MPACK_BUILD=$(B) ./scripts/run-integration.sh

test: unit integration

fuzz: $(FUZZ_BINS)
	./scripts/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

man-lint:
	./scripts/man-lint.sh

check-asan:
	$(MAKE) SAN=1 test

check: deps
	$(MAKE) all
	$(MAKE) test
	./scripts/demo.sh > build/demo.log 2>&1 || { cat build/demo.log; exit 1; }
	@echo "demo: ok (log in build/demo.log)"
	$(MAKE) man-lint
	$(MAKE) lint
	$(MAKE) fuzz
	$(MAKE) check-asan
	@echo "make check: all stages passed"

demo: deps
	$(MAKE) all
	./scripts/demo.sh

bench: deps
	$(MAKE) all $(B)/fusefloor
	./scripts/bench.sh

lint:
	clang-format --dry-run --Werror src/*.c src/*.h tests/unit/*.c tests/unit/*.h \
		scripts/bench/*.c

install: $(PROGS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(B)/mpack $(B)/mpackfs $(DESTDIR)$(BINDIR)/
	if [ -f scripts/mount.mpackfs ]; then install -d $(DESTDIR)$(SBINDIR) && \
		install -m 755 scripts/mount.mpackfs $(DESTDIR)$(SBINDIR)/; fi
	for m in man/*.1; do [ -f "$$m" ] && install -m 644 "$$m" $(DESTDIR)$(MANDIR)/man1/; done; true
	for m in man/*.5; do [ -f "$$m" ] && install -m 644 "$$m" $(DESTDIR)$(MANDIR)/man5/; done; true

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mpack $(DESTDIR)$(BINDIR)/mpackfs $(DESTDIR)$(SBINDIR)/mount.mpackfs

clean:
	rm -rf build build-asan build-fuzz

-include $(wildcard $(B)/obj/*.d)

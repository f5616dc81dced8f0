# The one entry point: deps, build, up/down/run, test, bench, lint.
# Layout: common/ -> libcommon.a; services/<svc>/ and gateway/ -> lib<svc>.a + one binary each;
# protos under proto/ are compiled by protoc-c into build/gen at build time (never committed).

SHELL := /bin/bash
CC ?= cc
B := build
GEN := $(B)/gen
LOCAL := .local
NODE_BIN := $(LOCAL)/node/node_modules/.bin
PY := /usr/bin/python3
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

PKGS := grpc libprotobuf-c libcurl openssl jansson libmicrohttpd mariadb zlib
CFLAGS_BASE := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -fno-strict-aliasing \
               -D_GNU_SOURCE -pthread -I. -I$(GEN)
ifeq ($(SANITIZE),1)
CFLAGS_BASE += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS += $(CFLAGS_BASE) $(PKG_CFLAGS)
LDFLAGS += -Wl,--as-needed
LDLIBS += $(PKG_LIBS) -lgpr -lm -pthread

# --- protos ---------------------------------------------------------------------------------
MENU_PROTOS := $(sort $(wildcard proto/menu/v1/*.proto))
GRPC_PROTO_DIR := /usr/share/grpc-proto
EXT_PROTOS := grpc/health/v1/health.proto grpc/reflection/v1/reflection.proto \
              grpc/reflection/v1alpha/reflection.proto
WKT_PROTOS := google/protobuf/timestamp.proto google/protobuf/descriptor.proto \
              google/protobuf/any.proto google/protobuf/duration.proto \
              google/protobuf/field_mask.proto
# google.rpc.Status and its error details (grpc-status-details-bin), vendored: no Debian package
# ships them.
RPC_PROTO_DIR := proto/third_party/googleapis
RPC_PROTOS := google/rpc/status.proto google/rpc/error_details.proto
# OTLP trace export (common/trace_export.c), vendored from opentelemetry-proto with its license.
OTEL_PROTO_DIR := proto/third_party/opentelemetry-proto
OTEL_PROTOS := opentelemetry/proto/common/v1/common.proto \
               opentelemetry/proto/resource/v1/resource.proto \
               opentelemetry/proto/trace/v1/trace.proto \
               opentelemetry/proto/collector/trace/v1/trace_service.proto
GEN_C := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(MENU_PROTOS)) \
         $(patsubst %.proto,$(GEN)/%.pb-c.c,$(EXT_PROTOS) $(WKT_PROTOS) $(RPC_PROTOS) $(OTEL_PROTOS))
GEN_STAMP := $(GEN)/.stamp
DESCRIPTOR_SET := $(GEN)/descriptor_set.pb
PY_GEN_STAMP := $(B)/py/.stamp

# --- sources ---------------------------------------------------------------------------------
COMMON_SRC := $(wildcard common/*.c)
DYNAMO_SRC := $(filter-out services/dynamo-svc/main.c,$(wildcard services/dynamo-svc/*.c services/dynamo-svc/*/*.c))
SQL_SRC := $(filter-out services/sql-svc/main.c,$(wildcard services/sql-svc/*.c services/sql-svc/*/*.c))
GATEWAY_SRC := $(filter-out gateway/main.c,$(wildcard gateway/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
TOOL_SRC := $(wildcard tools/*.c)
LOADGEN_SRC := $(filter-out tools/loadgen/main.c,$(wildcard tools/loadgen/*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
PROTO_LIB := $(B)/lib/libproto.a
COMMON_LIB := $(B)/lib/libcommon.a
DYNAMO_LIB := $(B)/lib/libdynamo.a
SQL_LIB := $(B)/lib/libsql.a
GATEWAY_LIB := $(B)/lib/libgateway.a
LOADGEN_LIB := $(B)/lib/libloadgen.a
BASE_LIBS := $(COMMON_LIB) $(PROTO_LIB)
ALL_LIBS := $(DYNAMO_LIB) $(SQL_LIB) $(GATEWAY_LIB) $(BASE_LIBS)
# A unit test or tool names the component libraries it needs in a "// LIBS: dynamo sql" line.
comp_libs = $(patsubst %,$(B)/lib/lib%.a,$(shell sed -n 's|^// LIBS: *||p' $(1))) $(BASE_LIBS)
DESC_OBJ := $(B)/obj/descriptor_set.o

BINS := $(B)/bin/dynamo-svc $(B)/bin/sql-svc $(B)/bin/gateway
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
TOOL_BINS := $(patsubst tools/%.c,$(B)/bin/%,$(TOOL_SRC)) $(B)/bin/loadgen $(B)/bin/sqlfloor

.PHONY: all deps build test unit-test integration-test up down run lint format bench clean images \
        api-baseline FORCE
.DEFAULT_GOAL := all
all: build

# Installs only what is missing: Debian packages via apt-get, npm packages under .local/node.
deps:
	@scripts/deps.sh

build: $(BINS) $(TOOL_BINS) $(UNIT_BINS)

$(GEN_STAMP): $(MENU_PROTOS) $(addprefix $(RPC_PROTO_DIR)/,$(RPC_PROTOS)) \
              $(addprefix $(OTEL_PROTO_DIR)/,$(OTEL_PROTOS)) Makefile
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I$(RPC_PROTO_DIR) -Iproto -I$(GRPC_PROTO_DIR) -I/usr/include \
	  $(MENU_PROTOS) $(addprefix $(GRPC_PROTO_DIR)/,$(EXT_PROTOS)) \
	  $(addprefix /usr/include/,$(WKT_PROTOS)) $(addprefix $(RPC_PROTO_DIR)/,$(RPC_PROTOS))
	protoc-c --c_out=$(GEN) -I$(OTEL_PROTO_DIR) $(addprefix $(OTEL_PROTO_DIR)/,$(OTEL_PROTOS))
	protoc --include_imports --include_source_info --descriptor_set_out=$(DESCRIPTOR_SET) -Iproto -I$(GRPC_PROTO_DIR) \
	  -I/usr/include $(MENU_PROTOS) $(addprefix $(GRPC_PROTO_DIR)/,$(EXT_PROTOS))
	@touch $@
$(GEN_C) $(DESCRIPTOR_SET): $(GEN_STAMP)

# Python message classes of menu.v1 for the integration tests (an independent client: grpcio).
# Health and reflection messages come from the descriptor set instead: a generated grpc/
# package would shadow grpcio's own.
$(PY_GEN_STAMP): $(MENU_PROTOS) $(addprefix $(RPC_PROTO_DIR)/,$(RPC_PROTOS)) \
                 $(addprefix $(OTEL_PROTO_DIR)/,$(OTEL_PROTOS))
	@mkdir -p $(B)/py
	protoc --python_out=$(B)/py -Iproto $(MENU_PROTOS)
	protoc --python_out=$(B)/py -I$(RPC_PROTO_DIR) $(addprefix $(RPC_PROTO_DIR)/,$(RPC_PROTOS))
	protoc --python_out=$(B)/py -I$(OTEL_PROTO_DIR) $(addprefix $(OTEL_PROTO_DIR)/,$(OTEL_PROTOS))
	@touch $@

# Every object waits for the generated headers.
$(B)/obj/%.o: %.c $(GEN_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
$(B)/obj/gen/%.o: $(GEN)/%.c $(GEN_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-error -c $< -o $@

# The version and git revision reach version.c alone, as -D flags from a file that is rewritten
# only when they change: a commit rebuilds one object and relinks, nothing else recompiles.
VERSION_FLAGS := $(B)/version.flags
$(VERSION_FLAGS): FORCE
	@mkdir -p $(dir $@)
	@scripts/version-flags.sh >$@.tmp && { cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@; }
$(B)/obj/common/version.o: common/version.c $(VERSION_FLAGS) $(GEN_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $$(cat $(VERSION_FLAGS)) -MMD -MP -c $< -o $@
FORCE:

# The descriptor set is linked into each binary for server reflection, with source info so the
# proto comments reach `grpcurl describe` and grpcui.
$(DESC_OBJ): $(DESCRIPTOR_SET) $(GEN_STAMP) common/descriptor_blob.S
	@mkdir -p $(dir $@)
	$(CC) -c -DDESCRIPTOR_SET_PATH='"$(DESCRIPTOR_SET)"' common/descriptor_blob.S -o $@

$(PROTO_LIB): $(patsubst $(GEN)/%.c,$(B)/obj/gen/%.o,$(GEN_C))
$(COMMON_LIB): $(call obj,$(COMMON_SRC)) $(DESC_OBJ)
$(DYNAMO_LIB): $(call obj,$(DYNAMO_SRC))
$(SQL_LIB): $(call obj,$(SQL_SRC))
$(GATEWAY_LIB): $(call obj,$(GATEWAY_SRC))
$(LOADGEN_LIB): $(call obj,$(LOADGEN_SRC))
$(B)/lib/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

.SECONDEXPANSION:
$(B)/bin/dynamo-svc: $(call obj,services/dynamo-svc/main.c) $(DYNAMO_LIB) $(BASE_LIBS)
$(B)/bin/sql-svc: $(call obj,services/sql-svc/main.c) $(SQL_LIB) $(BASE_LIBS)
$(B)/bin/gateway: $(call obj,gateway/main.c) $(GATEWAY_LIB) $(BASE_LIBS)
$(BINS):
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(LDLIBS)
# The load generator: main.c over libloadgen (run loop, mixes, stats; unit-tested).
$(B)/bin/loadgen: $(call obj,tools/loadgen/main.c) $(LOADGEN_LIB) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(LDLIBS)
# The floor under sql-svc: its own statement straight on MariaDB (bench.sh).
$(B)/bin/sqlfloor: $(call obj,tools/sqlfloor/main.c) $(LOADGEN_LIB) $(SQL_LIB) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(LDLIBS)
$(B)/bin/%: $(B)/obj/tools/%.o $$(call comp_libs,tools/$$*.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(LDLIBS)

# Unit tests may wrap seams with -Wl,--wrap=sym: list them in a "// WRAP: sym sym" line.
$(B)/tests/%: $(B)/obj/tests/unit/%.o $$(call comp_libs,tests/unit/$$*.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(shell sed -n 's|^// WRAP: *||p' tests/unit/$*.c | tr ' ' '\n' | sed '/^$$/d; s/^/-Wl,--wrap=/') \
	  -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(LDLIBS) -lcmocka

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# --- tests -----------------------------------------------------------------------------------
test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build $(PY_GEN_STAMP)
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory unit-test
	@$(MAKE) --no-print-directory integration-test

unit-test: $(UNIT_BINS)
	@scripts/run-unit-tests.sh $(UNIT_BINS)

# Integration tests start a real MariaDB, a real dynalite and the real binaries; deploy tests
# render and validate the Kubernetes manifests and check the images' runtime libraries.
integration-test: build $(PY_GEN_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/integration tests/deploy $(PYTEST_ARGS)

# --- local stack -----------------------------------------------------------------------------
up: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build
	@scripts/stack.sh up
down:
	@scripts/stack.sh down
run: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build
	@scripts/stack.sh run

bench: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build $(PY_GEN_STAMP)
	@scripts/bench.sh

# buf breaking guards the API against the committed baseline image (works in any clone, no git
# history needed); `make api-baseline` re-generates it for a deliberate, documented break.
API_BASELINE := proto/api-baseline.json
lint: deps
	cd proto && ../$(NODE_BIN)/buf lint
	cd proto && ../$(NODE_BIN)/buf breaking --against ../$(API_BASELINE)
	@scripts/format.sh --check

api-baseline: deps
	cd proto && ../$(NODE_BIN)/buf build --exclude-source-info -o ../$(API_BASELINE)

format:
	@scripts/format.sh

# Container images (needs a container engine; none runs on the CI machine).
images: build
	deploy/build-images.sh

clean:
	rm -rf $(B)

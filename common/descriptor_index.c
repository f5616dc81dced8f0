/* FileDescriptorSet index: protobuf-c decodes the set, we keep per-file bytes and a sorted
 * symbol table for binary search. */
#include "common/descriptor_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"

typedef struct {
  char *name;
  int file;
  bool is_message;
} symbol;

typedef struct {
  char *name;
  unsigned char *bytes;
  size_t len;
  int *deps;
  size_t n_deps;
} file_entry;

struct descriptor_index {
  file_entry *files;
  size_t n_files;
  symbol *symbols;
  size_t n_symbols, cap_symbols;
};

extern const unsigned char menu_descriptor_set[], menu_descriptor_set_end[];

const unsigned char *descriptor_set_embedded(size_t *len) {
  *len = (size_t)(menu_descriptor_set_end - menu_descriptor_set);
  return menu_descriptor_set;
}

static void add_symbol(descriptor_index *idx, const char *prefix, const char *name, int file,
                       bool is_message) {
  if (idx->n_symbols == idx->cap_symbols) {
    idx->cap_symbols = idx->cap_symbols ? idx->cap_symbols * 2 : 256;
    idx->symbols = realloc(idx->symbols, idx->cap_symbols * sizeof(symbol));
  }
  size_t n = strlen(prefix) + strlen(name) + 2;
  char *full = malloc(n);
  snprintf(full, n, "%s%s%s", prefix, *prefix ? "." : "", name);
  idx->symbols[idx->n_symbols++] = (symbol){full, file, is_message};
}

static void add_enums(descriptor_index *idx, const char *prefix,
                      Google__Protobuf__EnumDescriptorProto **enums, size_t n, int file) {
  for (size_t i = 0; i < n; i++) add_symbol(idx, prefix, enums[i]->name, file, false);
}

static void add_messages(descriptor_index *idx, const char *prefix,
                         Google__Protobuf__DescriptorProto **msgs, size_t n, int file) {
  for (size_t i = 0; i < n; i++) {
    add_symbol(idx, prefix, msgs[i]->name, file, true);
    const char *full = idx->symbols[idx->n_symbols - 1].name;
    char *nested_prefix = strdup(full);
    add_messages(idx, nested_prefix, msgs[i]->nested_type, msgs[i]->n_nested_type, file);
    add_enums(idx, nested_prefix, msgs[i]->enum_type, msgs[i]->n_enum_type, file);
    free(nested_prefix);
  }
}

static int cmp_symbol(const void *a, const void *b) {
  return strcmp(((const symbol *)a)->name, ((const symbol *)b)->name);
}

descriptor_index *descriptor_index_create(const unsigned char *data, size_t len) {
  Google__Protobuf__FileDescriptorSet *set =
      google__protobuf__file_descriptor_set__unpack(NULL, len, data);
  if (!set) return NULL;
  descriptor_index *idx = calloc(1, sizeof *idx);
  idx->n_files = set->n_file;
  idx->files = calloc(set->n_file ? set->n_file : 1, sizeof(file_entry));
  for (size_t f = 0; f < set->n_file; f++) {
    Google__Protobuf__FileDescriptorProto *fd = set->file[f];
    file_entry *e = &idx->files[f];
    e->name = strdup(fd->name);
    e->len = google__protobuf__file_descriptor_proto__get_packed_size(fd);
    e->bytes = malloc(e->len ? e->len : 1);
    google__protobuf__file_descriptor_proto__pack(fd, e->bytes);
    const char *pkg = fd->package ? fd->package : "";
    add_messages(idx, pkg, fd->message_type, fd->n_message_type, (int)f);
    add_enums(idx, pkg, fd->enum_type, fd->n_enum_type, (int)f);
    for (size_t s = 0; s < fd->n_service; s++) {
      Google__Protobuf__ServiceDescriptorProto *sd = fd->service[s];
      add_symbol(idx, pkg, sd->name, (int)f, false);
      char *svc = strdup(idx->symbols[idx->n_symbols - 1].name);
      for (size_t m = 0; m < sd->n_method; m++)
        add_symbol(idx, svc, sd->method[m]->name, (int)f, false);
      free(svc);
    }
  }
  /* protoc orders a set so that dependencies come first; resolve names to indices. */
  for (size_t f = 0; f < set->n_file; f++) {
    Google__Protobuf__FileDescriptorProto *fd = set->file[f];
    file_entry *e = &idx->files[f];
    e->deps = calloc(fd->n_dependency ? fd->n_dependency : 1, sizeof(int));
    for (size_t d = 0; d < fd->n_dependency; d++) {
      int dep = descriptor_index_file_by_name(idx, fd->dependency[d]);
      if (dep >= 0) e->deps[e->n_deps++] = dep;
    }
  }
  qsort(idx->symbols, idx->n_symbols, sizeof(symbol), cmp_symbol);
  google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
  return idx;
}

void descriptor_index_destroy(descriptor_index *idx) {
  if (!idx) return;
  for (size_t f = 0; f < idx->n_files; f++) {
    free(idx->files[f].name);
    free(idx->files[f].bytes);
    free(idx->files[f].deps);
  }
  free(idx->files);
  for (size_t i = 0; i < idx->n_symbols; i++) free(idx->symbols[i].name);
  free(idx->symbols);
  free(idx);
}

int descriptor_index_file_by_name(const descriptor_index *idx, const char *name) {
  for (size_t f = 0; f < idx->n_files; f++)
    if (!strcmp(idx->files[f].name, name)) return (int)f;
  return -1;
}

static const symbol *find_symbol(const descriptor_index *idx, const char *name) {
  symbol key = {(char *)name, 0, false};
  return bsearch(&key, idx->symbols, idx->n_symbols, sizeof(symbol), cmp_symbol);
}

int descriptor_index_file_by_symbol(const descriptor_index *idx, const char *symbol_name) {
  const symbol *s = find_symbol(idx, symbol_name);
  return s ? s->file : -1;
}

bool descriptor_index_is_message(const descriptor_index *idx, const char *symbol_name) {
  const symbol *s = find_symbol(idx, symbol_name);
  return s && s->is_message;
}

const char *descriptor_index_file_name(const descriptor_index *idx, int file) {
  return idx->files[file].name;
}

const unsigned char *descriptor_index_file_bytes(const descriptor_index *idx, int file,
                                                 size_t *len) {
  *len = idx->files[file].len;
  return idx->files[file].bytes;
}

size_t descriptor_index_closure(const descriptor_index *idx, int file, int *out, size_t max) {
  /* Breadth-first over imports; `seen` keeps each file once. */
  char *seen = calloc(idx->n_files, 1);
  int *queue = malloc(idx->n_files * sizeof(int));
  size_t head = 0, tail = 0;
  queue[tail++] = file;
  seen[file] = 1;
  while (head < tail) {
    const file_entry *e = &idx->files[queue[head++]];
    for (size_t d = 0; d < e->n_deps; d++)
      if (!seen[e->deps[d]]) {
        seen[e->deps[d]] = 1;
        queue[tail++] = e->deps[d];
      }
  }
  for (size_t i = 0; i < tail && i < max; i++) out[i] = queue[i];
  free(seen);
  free(queue);
  return tail;
}

/* An index over a serialized FileDescriptorSet (protoc --include_imports): files by name,
 * and the file declaring each fully-qualified symbol (packages' messages, nested messages,
 * enums, services and methods). Read-only after creation, so safe to share between threads. */
#ifndef MENU_DESCRIPTOR_INDEX_H
#define MENU_DESCRIPTOR_INDEX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct descriptor_index descriptor_index;

/* NULL when the bytes are not a FileDescriptorSet. Caller destroys. */
descriptor_index *descriptor_index_create(const unsigned char *data, size_t len);
void descriptor_index_destroy(descriptor_index *idx);

/* The set linked into the binary (common/descriptor_blob.S). */
const unsigned char *descriptor_set_embedded(size_t *len);

int descriptor_index_file_by_name(const descriptor_index *idx, const char *name);     /* -1 */
int descriptor_index_file_by_symbol(const descriptor_index *idx, const char *symbol); /* -1 */
bool descriptor_index_is_message(const descriptor_index *idx, const char *symbol);
const char *descriptor_index_file_name(const descriptor_index *idx, int file);
/* The serialized FileDescriptorProto of one file (borrowed). */
const unsigned char *descriptor_index_file_bytes(const descriptor_index *idx, int file,
                                                 size_t *len);
/* `file` followed by every file it imports, transitively, each once; writes at most `max`
 * indices into out and returns how many there are. */
size_t descriptor_index_closure(const descriptor_index *idx, int file, int *out, size_t max);

#endif

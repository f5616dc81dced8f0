/* A JSON reader for DynamoDB answers that builds the same jansson tree as json_loadb(buf,
 * len, 0) in about a quarter of the instructions: one pass over the buffer, strings without
 * escapes copied straight from it, no intermediate lexer buffer. It accepts and rejects what
 * json_loadb does (RFC 8259 grammar, an object or array at the top, strict UTF-8, no NUL in
 * strings, integers that fit json_int_t, finite reals), except that nesting deeper than
 * DDB_JSON_MAX_DEPTH is refused (DynamoDB nests attribute values at most 32 deep, which is
 * 64 JSON levels with the {"M": ...} wrappers).
 * Pure function: thread-safe. */
#ifndef DDB_JSON_PARSE_H
#define DDB_JSON_PARSE_H

#include <jansson.h>
#include <stddef.h>

#define DDB_JSON_MAX_DEPTH 128

/* The document in buf[0..len), or NULL when it is not valid JSON. Caller json_decrefs. */
json_t *ddb_json_parse(const char *buf, size_t len);

#endif

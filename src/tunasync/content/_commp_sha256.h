/* SHA-256 node hashing for the CommP tree: see _commp_sha256.c. */
#ifndef TUNASYNC_COMMP_SHA256_H
#define TUNASYNC_COMMP_SHA256_H
#include <stddef.h>
#include <stdint.h>

/* Hash n 64-byte messages at in into n 32-byte nodes (sha256, top 2 bits of byte 31 cleared) at
 * out; out may equal in, so a tree layer can be reduced in place. */
typedef void (*commp_nodes_fn)(const uint8_t *in, uint8_t *out, size_t n);
typedef struct {
    const char *name;
    commp_nodes_fn fn;
} commp_impl;

/* Set up the constants; point *impls at the implementations this CPU runs, best first; return
 * how many (at least one: "portable"). */
int commp_sha256_init(const commp_impl **impls);
#endif

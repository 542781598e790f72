/* Native CommP core (docs/cid.md §3): fr32 expansion and the truncated SHA-256 binary tree.
 *
 * root(buffer, level) -> 32-byte root of the subtree of `level` over the buffer (zero-padded),
 * same contract as commp_py.root. The GIL is released while hashing, so Python threads hash
 * separate subtrees on separate cores. Payload is expanded and hashed a 64 KiB block at a time
 * (in cache), block roots combine like a binary counter, zero subtrees are constants. The node
 * hash itself (SHA-NI, SIMD multi-buffer or portable) lives in _commp_sha256.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_commp_sha256.h"

#define QUAD 127
#define BLOCK_LEVEL 11 /* 127·2^9 payload bytes -> 64 KiB of leaves per block */
#define BLOCK_QUADS (1u << (BLOCK_LEVEL - 2))
#define BLOCK_BYTES ((size_t)QUAD * BLOCK_QUADS)
#define MAX_LEVEL 58

static uint8_t ZERO[MAX_LEVEL + 1][32]; /* ZERO[i]: root of an all-zero subtree of level i */
static const commp_impl *impls;         /* what this CPU runs, best first */
static int n_impls;
static commp_nodes_fn hash_nodes;
static const char *impl_name;

/* ---- fr32 --------------------------------------------------------------------------------- */
static inline uint64_t ld64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}
static inline void st64(uint8_t *p, uint64_t v) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* 127 bytes -> four 254-bit little-endian field elements; element k starts at bit 254k. */
static inline void fr32_quad(const uint8_t *in, uint8_t *out) {
    memcpy(out, in, 32);
    out[31] &= 0x3F;
    for (int k = 1; k < 4; k++) {
        const uint8_t *p = in + 32 * k - 1;
        const int s = 8 - 2 * k;
        uint8_t *o = out + 32 * k;
        for (int w = 0; w < 3; w++) st64(o + 8 * w, (ld64(p + 8 * w) >> s) | (ld64(p + 8 * w + 8) << (64 - s)));
        /* the last word must not read past byte 126; element 3 needs nothing beyond it */
        uint64_t hi = k < 3 ? (uint64_t)p[32] << (64 - s) : 0;
        st64(o + 24, (ld64(p + 24) >> s) | hi);
        o[31] &= 0x3F;
    }
}

/* ---- the tree ----------------------------------------------------------------------------- */
/* Root of a subtree of level <= BLOCK_LEVEL over len payload bytes (zero-padded); buf holds
 * BLOCK_QUADS·128 + 32 bytes. */
static void block_root(const uint8_t *data, size_t len, int level, uint8_t *buf, uint8_t *out) {
    size_t nq = len / QUAD, rem = len % QUAD;
    if (!len) { memcpy(out, ZERO[level], 32); return; }
    for (size_t q = 0; q < nq; q++) fr32_quad(data + QUAD * q, buf + 128 * q);
    if (rem) {
        uint8_t last[QUAD] = {0};
        memcpy(last, data + QUAD * nq, rem);
        fr32_quad(last, buf + 128 * nq++);
    }
    size_t n = 4 * nq;
    for (int lvl = 0; lvl < level; lvl++) {
        if (n & 1) memcpy(buf + 32 * n++, ZERO[lvl], 32);
        hash_nodes(buf, buf, n / 2);
        n /= 2;
    }
    memcpy(out, buf, 32);
}

typedef struct { int level; uint8_t root[32]; } item_t;

static void pair(const uint8_t *left, const uint8_t *right, uint8_t *out) {
    uint8_t msg[64];
    memcpy(msg, left, 32);
    memcpy(msg + 32, right, 32);
    hash_nodes(msg, out, 1);
}

static void subtree_root(const uint8_t *data, size_t len, int level, uint8_t *buf, uint8_t *out) {
    if (level <= BLOCK_LEVEL) { block_root(data, len, level, buf, out); return; }
    item_t stack[MAX_LEVEL + 2];
    int top = 0;
    for (size_t off = 0; off < len; off += BLOCK_BYTES) {
        item_t cur = {BLOCK_LEVEL, {0}};
        block_root(data + off, len - off < BLOCK_BYTES ? len - off : BLOCK_BYTES, BLOCK_LEVEL, buf, cur.root);
        while (top && stack[top - 1].level == cur.level) {
            pair(stack[--top].root, cur.root, cur.root);
            cur.level++;
        }
        stack[top++] = cur;
    }
    if (!top) { memcpy(out, ZERO[level], 32); return; }
    item_t cur = stack[--top];
    while (top) {
        item_t *left = &stack[--top];
        for (; cur.level < left->level; cur.level++) pair(cur.root, ZERO[cur.level], cur.root);
        pair(left->root, cur.root, cur.root);
        cur.level++;
    }
    for (; cur.level < level; cur.level++) pair(cur.root, ZERO[cur.level], cur.root);
    memcpy(out, cur.root, 32);
}

/* ---- Python ------------------------------------------------------------------------------- */
static PyObject *py_root(PyObject *self, PyObject *args) {
    Py_buffer view;
    int level;
    if (!PyArg_ParseTuple(args, "y*i:root", &view, &level)) return NULL;
    if (level < 2 || level > MAX_LEVEL || (uint64_t)view.len > ((uint64_t)QUAD << (level - 2))) {
        PyErr_Format(PyExc_ValueError, "%zd bytes do not fit a subtree of level %d", view.len, level);
        PyBuffer_Release(&view);
        return NULL;
    }
    uint8_t *buf = PyMem_RawMalloc(BLOCK_QUADS * 128 + 64);
    if (!buf) { PyBuffer_Release(&view); return PyErr_NoMemory(); }
    uint8_t out[32];
    Py_BEGIN_ALLOW_THREADS
    subtree_root((const uint8_t *)view.buf, (size_t)view.len, level, buf, out);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(buf);
    PyBuffer_Release(&view);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

static PyObject *py_compress_bench(PyObject *self, PyObject *args) {
    /* n nodes hashed one after another, each from the previous output: a latency-bound
     * single stream of 2n compressions, the "ceiling" a per-node implementation can reach. */
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "n:compress_bench", &n)) return NULL;
    uint8_t msg[64] = {1};
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) hash_nodes(msg, msg, 1);
    Py_END_ALLOW_THREADS
    return PyBytes_FromStringAndSize((const char *)msg, 32);
}

static PyObject *py_impls(PyObject *self, PyObject *noargs) {
    PyObject *list = PyList_New(n_impls);
    for (int i = 0; list && i < n_impls; i++) PyList_SET_ITEM(list, i, PyUnicode_FromString(impls[i].name));
    return list;
}

static int select_impl(const char *name) {
    for (int i = 0; i < n_impls; i++)
        if (!strcmp(impls[i].name, name)) {
            hash_nodes = impls[i].fn;
            impl_name = impls[i].name;
            return 1;
        }
    return 0;
}

static PyObject *py_use(PyObject *self, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s:use", &name)) return NULL;
    PyObject *previous = PyUnicode_FromString(impl_name);
    if (!select_impl(name)) {
        Py_XDECREF(previous);
        return PyErr_Format(PyExc_ValueError, "SHA-256 implementation %s is not available on this CPU", name);
    }
    return previous;
}

static PyObject *py_impl(PyObject *self, PyObject *noargs) { return PyUnicode_FromString(impl_name); }

static PyMethodDef methods[] = {
    {"root", py_root, METH_VARARGS, "root(data, level) -> 32-byte root of the subtree of level over data (zero-padded)"},
    {"compress_bench", py_compress_bench, METH_VARARGS, "compress_bench(n): hash n nodes in a dependent chain"},
    {"impls", py_impls, METH_NOARGS, "SHA-256 implementations available on this CPU, best first"},
    {"use", py_use, METH_VARARGS, "use(name) -> previous: select the SHA-256 implementation"},
    {"impl", py_impl, METH_NOARGS, "the SHA-256 implementation in use"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_commp",
    .m_doc = "Native CommP core (fr32 + truncated SHA-256 tree).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__commp(void) {
    n_impls = commp_sha256_init(&impls);
    const char *want = getenv("TUNASYNC_COMMP_IMPL"); /* e.g. "portable", to measure or to test */
    if (!want || !select_impl(want)) select_impl(impls[0].name);
    for (int i = 0; i < MAX_LEVEL; i++) pair(ZERO[i], ZERO[i], ZERO[i + 1]);
    return PyModule_Create(&module);
}

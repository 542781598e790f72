/* Native CommP core (spec filecoin.md §3): fr32 expansion and the truncated SHA-256 binary tree.
 *
 * root(buffer, level) -> 32-byte root of the subtree of `level` over the buffer (zero-padded),
 * same contract as commp_py.root. The GIL is released while hashing, so Python threads hash
 * separate subtrees on separate cores. Every tree node is a 64-byte message, i.e. two SHA-256
 * compressions: the data block and a constant padding block whose message schedule (+K) is
 * precomputed. On x86 with SHA-NI two nodes are hashed interleaved (the rounds instruction has
 * latency > throughput); elsewhere a portable compression is used. Zero subtrees are constants.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#define COMMP_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#define QUAD 127
#define BLOCK_LEVEL 11                      /* 127·2^9 payload bytes -> 64 KiB of leaves per block */
#define BLOCK_QUADS (1u << (BLOCK_LEVEL - 2))
#define BLOCK_BYTES ((size_t)QUAD * BLOCK_QUADS)
#define MAX_LEVEL 58
#ifndef LANES
#define LANES 4 /* nodes hashed interleaved: 4 was fastest on Zen 4 (2: -22%, 8: -10%) */
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
static const uint32_t IV[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

static uint32_t PAD_WK[64];          /* W[t] + K[t] of the padding block of a 64-byte message */
static uint8_t ZERO[MAX_LEVEL + 1][32]; /* ZERO[i]: root of an all-zero subtree of level i */

/* ---- portable SHA-256 ------------------------------------------------------------------- */
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define S0(x) (ROR(x, 2) ^ ROR(x, 13) ^ ROR(x, 22))
#define S1(x) (ROR(x, 6) ^ ROR(x, 11) ^ ROR(x, 25))
#define s0(x) (ROR(x, 7) ^ ROR(x, 18) ^ ((x) >> 3))
#define s1(x) (ROR(x, 17) ^ ROR(x, 19) ^ ((x) >> 10))

static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void schedule(const uint8_t blk[64], uint32_t w[64]) {
    for (int t = 0; t < 16; t++) w[t] = be32(blk + 4 * t);
    for (int t = 16; t < 64; t++) w[t] = s1(w[t - 2]) + w[t - 7] + s0(w[t - 15]) + w[t - 16];
}

/* 64 rounds over wk[t] = W[t] + K[t]. */
static void rounds(uint32_t st[8], const uint32_t wk[64]) {
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = h + S1(e) + ((e & f) ^ (~e & g)) + wk[t];
        uint32_t t2 = S0(a) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    st[0] += a; st[1] += b; st[2] += c; st[3] += d; st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}

static void node_portable(const uint8_t *in, uint8_t *out) {
    uint32_t w[64], st[8];
    schedule(in, w);
    for (int t = 0; t < 64; t++) w[t] += K[t];
    memcpy(st, IV, sizeof st);
    rounds(st, w);
    rounds(st, PAD_WK);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24); out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8); out[4 * i + 3] = (uint8_t)st[i];
    }
    out[31] &= 0x3F;
}

/* Hash n 64-byte messages at in into n 32-byte nodes at out; out may equal in (layer in place). */
static void nodes_portable(const uint8_t *in, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) node_portable(in + 64 * i, out + 32 * i);
}

/* ---- SHA-NI ------------------------------------------------------------------------------ */
#ifdef COMMP_X86
#define SHANI __attribute__((target("sha,sse4.1,ssse3")))
static __m128i PAD_WK4[16]; /* PAD_WK as 16 vectors of four rounds' W+K */
static __m128i K4[16];

/* Two-lane SHA-256 of one 64-byte message each, from the IV, then the constant padding block.
 * Lane state is kept as ABEF/CDGH, the layout sha256rnds2 wants. */
SHANI static inline void shani_lanes(const uint8_t *const msg[], uint8_t *const dst[], const int lanes) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i a0[LANES], c0[LANES], m[LANES][4], w, tmp;
    const __m128i iv0 = _mm_set_epi32((int)IV[0], (int)IV[1], (int)IV[4], (int)IV[5]); /* ABEF */
    const __m128i iv1 = _mm_set_epi32((int)IV[2], (int)IV[3], (int)IV[6], (int)IV[7]); /* CDGH */
    for (int l = 0; l < lanes; l++) { a0[l] = iv0; c0[l] = iv1; }
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) {
        for (int l = 0; l < lanes; l++) {
            if (g < 4) m[l][g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(msg[l] + 16 * g)), bswap);
            w = _mm_add_epi32(m[l][g & 3], K4[g]);
            c0[l] = _mm_sha256rnds2_epu32(c0[l], a0[l], w);
            if (g >= 3 && g < 15) {
                tmp = _mm_alignr_epi8(m[l][g & 3], m[l][(g + 3) & 3], 4);
                m[l][(g + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(m[l][(g + 1) & 3], tmp), m[l][g & 3]);
            }
            w = _mm_shuffle_epi32(w, 0x0E);
            a0[l] = _mm_sha256rnds2_epu32(a0[l], c0[l], w);
            if (g >= 1 && g < 13) m[l][(g - 1) & 3] = _mm_sha256msg1_epu32(m[l][(g - 1) & 3], m[l][g & 3]);
        }
    }
    __m128i s0[LANES], s1[LANES];
    for (int l = 0; l < lanes; l++) {
        a0[l] = _mm_add_epi32(a0[l], iv0); c0[l] = _mm_add_epi32(c0[l], iv1);
        s0[l] = a0[l]; s1[l] = c0[l];
    }
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) {
        for (int l = 0; l < lanes; l++) {
            c0[l] = _mm_sha256rnds2_epu32(c0[l], a0[l], PAD_WK4[g]);
            a0[l] = _mm_sha256rnds2_epu32(a0[l], c0[l], _mm_shuffle_epi32(PAD_WK4[g], 0x0E));
        }
    }
    const __m128i top = _mm_set_epi32(0x3FFFFFFF, -1, -1, -1); /* clears the top 2 bits of byte 31 */
    for (int l = 0; l < lanes; l++) {
        __m128i abef = _mm_add_epi32(a0[l], s0[l]), cdgh = _mm_add_epi32(c0[l], s1[l]);
        tmp = _mm_shuffle_epi32(abef, 0x1B);                  /* FEBA */
        cdgh = _mm_shuffle_epi32(cdgh, 0xB1);                 /* DCHG */
        __m128i dcba = _mm_blend_epi16(tmp, cdgh, 0xF0);      /* DCBA */
        __m128i hgfe = _mm_alignr_epi8(cdgh, tmp, 8);         /* HGFE */
        _mm_storeu_si128((__m128i *)dst[l], _mm_shuffle_epi8(dcba, bswap));
        _mm_storeu_si128((__m128i *)(dst[l] + 16), _mm_and_si128(_mm_shuffle_epi8(hgfe, bswap), top));
    }
}

SHANI static void nodes_shani(const uint8_t *in, uint8_t *out, size_t n) {
    size_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        const uint8_t *msg[LANES];
        uint8_t *dst[LANES];
        for (int l = 0; l < LANES; l++) { msg[l] = in + 64 * (i + l); dst[l] = out + 32 * (i + l); }
        shani_lanes(msg, dst, LANES);
    }
    for (; i < n; i++) {
        const uint8_t *msg[1] = {in + 64 * i};
        uint8_t *dst[1] = {out + 32 * i};
        shani_lanes(msg, dst, 1);
    }
}

static int cpu_has_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3)) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1;
}
#endif

typedef void (*nodes_fn)(const uint8_t *, uint8_t *, size_t);
static nodes_fn hash_nodes = nodes_portable;
static const char *impl_name = "portable";
static int have_shani = 0;

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
    return have_shani ? Py_BuildValue("[ss]", "sha-ni", "portable") : Py_BuildValue("[s]", "portable");
}

static PyObject *py_use(PyObject *self, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s:use", &name)) return NULL;
    PyObject *previous = PyUnicode_FromString(impl_name);
    if (!strcmp(name, "portable")) {
        hash_nodes = nodes_portable; impl_name = "portable";
#ifdef COMMP_X86
    } else if (!strcmp(name, "sha-ni") && have_shani) {
        hash_nodes = nodes_shani; impl_name = "sha-ni";
#endif
    } else {
        Py_XDECREF(previous);
        return PyErr_Format(PyExc_ValueError, "SHA-256 implementation %s is not available here", name);
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

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_commp", "Native CommP core (fr32 + truncated SHA-256 tree).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__commp(void) {
    uint8_t pad[64] = {0x80};
    pad[62] = 0x02; /* message length: 512 bits, big-endian */
    schedule(pad, PAD_WK);
    for (int t = 0; t < 64; t++) PAD_WK[t] += K[t];
    for (int i = 0; i < MAX_LEVEL; i++) pair(ZERO[i], ZERO[i], ZERO[i + 1]);
#ifdef COMMP_X86
    have_shani = cpu_has_shani();
    for (int g = 0; g < 16; g++) {
        K4[g] = _mm_set_epi32((int)K[4 * g + 3], (int)K[4 * g + 2], (int)K[4 * g + 1], (int)K[4 * g]);
        PAD_WK4[g] = _mm_set_epi32((int)PAD_WK[4 * g + 3], (int)PAD_WK[4 * g + 2], (int)PAD_WK[4 * g + 1],
                                   (int)PAD_WK[4 * g]);
    }
    if (have_shani && !getenv("TUNASYNC_COMMP_PORTABLE")) { hash_nodes = nodes_shani; impl_name = "sha-ni"; }
#endif
    return PyModule_Create(&module);
}

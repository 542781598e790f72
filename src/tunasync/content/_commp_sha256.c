/* SHA-256 of 64-byte messages, truncated to 254 bits: the CommP tree node (docs/cid.md §3.1).
 *
 * Every node is two compressions: the data block and a constant padding block, whose message
 * schedule plus K is precomputed. Implementations, best first: SHA-NI with 4 nodes interleaved
 * (the rounds instruction's latency exceeds its throughput), 16-lane multi-buffer SIMD on AVX-512
 * or AVX2 or the baseline vector ISA (SSE2, NEON: GCC vector extensions), and portable C.
 */
#include "_commp_sha256.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#define COMMP_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#ifndef LANES
#define LANES 4 /* nodes hashed interleaved on SHA-NI: 4 was fastest on Zen 4 (2: -22%, 8: -10%) */
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

/* SHA-256 of `lanes` 64-byte messages interleaved, from the IV, then the constant padding block.
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

/* ---- multi-buffer SIMD: NL messages per call, one per 32-bit lane ------------------------- */
typedef uint32_t v16 __attribute__((vector_size(64)));
typedef uint32_t v8 __attribute__((vector_size(32)));
typedef uint32_t v4 __attribute__((vector_size(16)));
#define VROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* Word loads and stores the compiler turns into movbe/bswap (a byte-wise be32 here gets
 * "vectorised" into hundreds of byte inserts and extracts). */
static inline uint32_t ld_be32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}
static inline void st_be32(uint8_t *p, uint32_t v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, 4);
}

/* Written once with GCC vector extensions for NL lanes of type VT, inlined into one function per
 * target below, where the compiler lowers it to zmm (AVX-512), ymm (AVX2), xmm (SSE2) or q (NEON)
 * registers. All NL inputs are read before any output is written, so out may equal in. */
#define DEFINE_MB(NAME, VT, NL)                                                                    \
    static inline __attribute__((always_inline)) void NAME(const uint8_t *in, uint8_t *out) {     \
        uint32_t tmp[16][NL];                                                                      \
        VT w[16], st[8], sv[8];                                                                    \
        for (int t = 0; t < 16; t++)                                                               \
            for (int l = 0; l < NL; l++) tmp[t][l] = ld_be32(in + 64 * l + 4 * t);                 \
        for (int t = 0; t < 16; t++) memcpy(&w[t], tmp[t], sizeof(VT));                            \
        for (int i = 0; i < 8; i++) st[i] = (VT){0} + IV[i];                                       \
        for (int blk = 0; blk < 2; blk++) {                                                        \
            VT a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7]; \
            _Pragma("GCC unroll 64") for (int t = 0; t < 64; t++) {                                \
                VT wk;                                                                             \
                if (blk == 0) {                                                                    \
                    if (t >= 16) {                                                                 \
                        VT w2 = w[(t - 2) & 15], w15 = w[(t - 15) & 15];                           \
                        w[t & 15] += (VROR(w2, 17) ^ VROR(w2, 19) ^ (w2 >> 10)) + w[(t - 7) & 15] + \
                                     (VROR(w15, 7) ^ VROR(w15, 18) ^ (w15 >> 3));                  \
                    }                                                                              \
                    wk = w[t & 15] + K[t];                                                         \
                } else {                                                                           \
                    wk = (VT){0} + PAD_WK[t];                                                      \
                }                                                                                  \
                VT t1 = h + (VROR(e, 6) ^ VROR(e, 11) ^ VROR(e, 25)) + ((e & f) ^ (~e & g)) + wk;  \
                VT t2 = (VROR(a, 2) ^ VROR(a, 13) ^ VROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));  \
                h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;                 \
            }                                                                                      \
            sv[0] = a; sv[1] = b; sv[2] = c; sv[3] = d; sv[4] = e; sv[5] = f; sv[6] = g; sv[7] = h; \
            for (int i = 0; i < 8; i++) st[i] += sv[i];                                            \
        }                                                                                          \
        st[7] &= 0xFFFFFF3F; /* byte 31 is the low byte of H: the 254-bit truncation */            \
        for (int i = 0; i < 8; i++) memcpy(tmp[i], &st[i], sizeof(VT));                            \
        for (int l = 0; l < NL; l++)                                                               \
            for (int i = 0; i < 8; i++) st_be32(out + 32 * l + 4 * i, tmp[i][l]);                  \
    }
DEFINE_MB(mb16, v16, 16)
DEFINE_MB(mb8, v8, 8)
DEFINE_MB(mb4, v4, 4)

/* A short tail goes through a scratch buffer of NL messages. */
#define MB_NODES(NAME, TARGET, MB, NL)                                                             \
    TARGET static void NAME(const uint8_t *in, uint8_t *out, size_t n) {                          \
        size_t i = 0;                                                                              \
        for (; i + NL <= n; i += NL) MB(in + 64 * i, out + 32 * i);                                \
        if (i < n) {                                                                               \
            uint8_t scratch[NL * 64] = {0};                                                        \
            memcpy(scratch, in + 64 * i, 64 * (n - i));                                            \
            MB(scratch, scratch);                                                                  \
            memcpy(out + 32 * i, scratch, 32 * (n - i));                                           \
        }                                                                                          \
    }
MB_NODES(nodes_simd, , mb4, 4)
#ifdef COMMP_X86
MB_NODES(nodes_avx2, __attribute__((target("avx2"))), mb8, 8)
MB_NODES(nodes_avx512, __attribute__((target("avx512f,avx512vl"))), mb16, 16)
#endif

/* ---- selection ------------------------------------------------------------------------------ */
static commp_impl available[6];

int commp_sha256_init(const commp_impl **impls) {
    uint8_t pad[64] = {0x80};
    pad[62] = 0x02; /* message length: 512 bits, big-endian */
    schedule(pad, PAD_WK);
    for (int t = 0; t < 64; t++) PAD_WK[t] += K[t];
    int n = 0;
#ifdef COMMP_X86
    for (int g = 0; g < 16; g++) {
        K4[g] = _mm_set_epi32((int)K[4 * g + 3], (int)K[4 * g + 2], (int)K[4 * g + 1], (int)K[4 * g]);
        PAD_WK4[g] = _mm_set_epi32((int)PAD_WK[4 * g + 3], (int)PAD_WK[4 * g + 2], (int)PAD_WK[4 * g + 1],
                                   (int)PAD_WK[4 * g]);
    }
    __builtin_cpu_init();
    if (cpu_has_shani()) available[n++] = (commp_impl){"sha-ni", nodes_shani};
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        available[n++] = (commp_impl){"avx512", nodes_avx512};
    if (__builtin_cpu_supports("avx2")) available[n++] = (commp_impl){"avx2", nodes_avx2};
#endif
    available[n++] = (commp_impl){"simd", nodes_simd};
    available[n++] = (commp_impl){"portable", nodes_portable};
    *impls = available;
    return n;
}

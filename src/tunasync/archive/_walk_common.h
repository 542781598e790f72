/* Shared by the parts of tunasync.archive._walk (one translation unit: included once, by _walk.c):
   the growable buffer, the listing format's constants and the UTF-8 check. */
#ifndef TUNASYNC_WALK_COMMON_H
#define TUNASYNC_WALK_COMMON_H

#define DIR_MARK 0xFFFF
#define TAIL 28   /* i64 size, i64 s, u32 ns, u64 inode */
#define T_OTHER 255 /* d_type of an entry that is neither a file nor a directory */

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static int buf_grow(buf_t *b, size_t need) {
    if (b->len + need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->len + need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_put(buf_t *b, const void *src, size_t n) {
    if (buf_grow(b, n))
        return -1;
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

/* Strict UTF-8 as Python's codec decodes it (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static int utf8_ok(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i], lo = 0x80, hi = 0xBF;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            k = 1;
        else if (c == 0xE0)
            k = 2, lo = 0xA0;
        else if (c == 0xED)
            k = 2, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF)
            k = 2;
        else if (c == 0xF0)
            k = 3, lo = 0x90;
        else if (c == 0xF4)
            k = 3, hi = 0x8F;
        else if (c >= 0xF1 && c <= 0xF3)
            k = 3;
        else
            return 0;
        if (n - i - 1 < k || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t j = 2; j <= k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xBF)
                return 0;
        i += k + 1;
    }
    return 1;
}

#endif

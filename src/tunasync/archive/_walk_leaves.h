/* Hashing one-leaf files (hash_leaves) for tunasync.archive._walk; included once, by _walk.c. */
#ifndef TUNASYNC_WALK_LEAVES_H
#define TUNASYNC_WALK_LEAVES_H

/* hash_leaves(root, [(rel, size, mtime_ns, inode)], cid_prefix) (rel str or bytes): files of at most one chunk under a
   raw-leaves profile, whose CID is CIDv1(raw, sha2-256 of the bytes). A whole batch runs without the
   GIL (Python's per-file syscalls would each take it back, and threads would queue for it). Each file
   is opened without following a symlink and read (one byte more than expected: a file that grew
   shows); then the open file must be a regular file with the (size, mtime_ns, inode) the scan saw.
   The scan's own stat came before the open, so one fstat after the read brackets the read: the
   bytes are the ones the scan described (a rewrite in between moves the mtime, a replacement the
   inode), and a later replacement of the path leaves a row whose inode the next scan sees differ
   (packing checks every CID again). That is one stat per file here, one in the walk. Then its text CID
   ("b" + base32 of cid_prefix + digest) is returned. Otherwise an int: -1 changed (or now a symlink,
   FIFO, directory...), -2 vanished, or the errno. SHA-256 is OpenSSL's, the libcrypto hashlib uses. */

#define LEAF_CHANGED (-1)
#define LEAF_VANISHED (-2)

typedef unsigned char *(*sha256_fn)(const unsigned char *, size_t, unsigned char *);
static sha256_fn sha256_oneshot;

static int load_sha256(void) {
    static const char *names[] = {"libcrypto.so.3", "libcrypto.so", "libcrypto.so.1.1", NULL};
    for (int i = 0; !sha256_oneshot && names[i]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h)
            sha256_oneshot = (sha256_fn)dlsym(h, "SHA256");
    }
    return sha256_oneshot != NULL;
}

typedef struct {
    PyObject *rel_obj; /* held: the caller's list must not free our paths while the GIL is away */
    const char *rel;
    long long size, mtime_ns;
    unsigned long long ino;
    int code;
    size_t textlen;
    char text[96];
} leaf_t;

static int same_stat(const struct stat *st, const leaf_t *j) {
    long long mt = (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    return (long long)st->st_size == j->size && mt == j->mtime_ns && (unsigned long long)st->st_ino == j->ino;
}

static size_t b32(const unsigned char *in, size_t n, char *out) { /* RFC 4648, lower case, unpadded */
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits)
        out[o++] = alphabet[(acc << (5 - bits)) & 31];
    return o;
}

/* Open j->rel under rootfd: a regular file, not through a symlink, with the stats the scan saw.
   Returns the fd, or -1 with j->code set. */
static int open_checked(int rootfd, leaf_t *j) {
    int fd = openat(rootfd, j->rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        j->code = errno == ENOENT ? LEAF_VANISHED : errno == ELOOP ? LEAF_CHANGED : errno;
        return -1;
    }
    struct stat before;
    if (fstat(fd, &before) != 0)
        j->code = errno;
    else if (!S_ISREG(before.st_mode) || !same_stat(&before, j))
        j->code = LEAF_CHANGED;
    else
        return fd;
    close(fd);
    return -1;
}

/* Read up to n bytes (fewer only at EOF); -1 with j->code set on an error. */
static ssize_t read_full(int fd, unsigned char *buf, size_t n, leaf_t *j) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            j->code = errno;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Close fd; 0 when the open file and the path still have the scan's stats, else j->code set. */
static int close_checked(int rootfd, int fd, leaf_t *j) {
    struct stat after, now;
    int e1 = fstat(fd, &after) != 0 ? errno : 0;
    int e2 = fstatat(rootfd, j->rel, &now, AT_SYMLINK_NOFOLLOW) != 0 ? errno : 0;
    close(fd);
    if (e1 || e2)
        j->code = e1 ? e1 : e2 == ENOENT ? LEAF_VANISHED : e2;
    else if (!same_stat(&after, j) || !same_stat(&now, j))
        j->code = LEAF_CHANGED;
    return j->code;
}

static void leaf_one(int rootfd, leaf_t *j, unsigned char *buf, const unsigned char *prefix, size_t plen) {
    int fd = openat(rootfd, j->rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        j->code = errno == ENOENT ? LEAF_VANISHED : errno == ELOOP ? LEAF_CHANGED : errno;
        return;
    }
    ssize_t got = read_full(fd, buf, (size_t)j->size + 1, j); /* one byte more: a file that grew shows */
    struct stat after;
    int serr = fstat(fd, &after) != 0 ? errno : 0;
    close(fd);
    if (serr) {
        j->code = serr;
        return;
    }
    if (!S_ISREG(after.st_mode) || !same_stat(&after, j)) {
        j->code = LEAF_CHANGED; /* also what a directory's or a FIFO's failed read really means */
        return;
    }
    if (got < 0)
        return;
    if (got != j->size) {
        j->code = LEAF_CHANGED;
        return;
    }
    unsigned char bin[64];
    memcpy(bin, prefix, plen);
    sha256_oneshot(buf, (size_t)got, bin + plen);
    j->text[0] = 'b';
    j->textlen = 1 + b32(bin, plen + 32, j->text + 1);
}

static PyObject *py_hash_leaves(PyObject *self, PyObject *args) {
    PyObject *root_obj, *items_obj, *result = NULL;
    Py_buffer prefix;
    if (!PyArg_ParseTuple(args, "O&Oy*", PyUnicode_FSConverter, &root_obj, &items_obj, &prefix))
        return NULL;
    PyObject *seq = NULL;
    Py_ssize_t n = 0;
    leaf_t *jobs = NULL;
    unsigned char *buf = NULL;
    if (prefix.len > 32) {
        PyErr_SetString(PyExc_ValueError, "cid_prefix too long");
        goto out;
    }
    if (!load_sha256()) {
        PyErr_SetString(PyExc_RuntimeError, "libcrypto's SHA256 not found");
        goto out;
    }
    if (!(seq = PySequence_Fast(items_obj, "items must be a sequence")))
        goto out;
    n = PySequence_Fast_GET_SIZE(seq);
    long long biggest = 0;
    if (!(jobs = PyMem_Calloc(n ? n : 1, sizeof *jobs))) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        leaf_t *j = &jobs[i];
        PyObject *rel;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "O&LLK", PyUnicode_FSConverter, &rel, &j->size,
                              &j->mtime_ns, &j->ino))
            goto out;
        j->rel_obj = rel; /* a new reference: bytes, from str or bytes */
        j->rel = PyBytes_AS_STRING(j->rel_obj);
        if (strlen(j->rel) != (size_t)PyBytes_GET_SIZE(j->rel_obj)) {
            PyErr_SetString(PyExc_ValueError, "embedded NUL in a path");
            goto out;
        }
        if (j->size < 0 || j->size > (64LL << 20)) {
            PyErr_SetString(PyExc_ValueError, "hash_leaves takes files of at most 64 MiB");
            goto out;
        }
        biggest = j->size > biggest ? j->size : biggest;
    }
    if (!(buf = malloc((size_t)biggest + 1))) {
        PyErr_NoMemory();
        goto out;
    }
    const char *root = PyBytes_AS_STRING(root_obj);
    Py_BEGIN_ALLOW_THREADS
    int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rerr = rootfd < 0 ? errno : 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (rootfd < 0)
            jobs[i].code = rerr == ENOENT ? LEAF_VANISHED : rerr;
        else
            leaf_one(rootfd, &jobs[i], buf, prefix.buf, (size_t)prefix.len);
    }
    if (rootfd >= 0)
        close(rootfd);
    Py_END_ALLOW_THREADS
    if (!(result = PyList_New(n)))
        goto out;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = jobs[i].code ? PyLong_FromLong(jobs[i].code)
                                   : PyUnicode_FromStringAndSize(jobs[i].text, (Py_ssize_t)jobs[i].textlen);
        if (!v) {
            Py_CLEAR(result);
            goto out;
        }
        PyList_SET_ITEM(result, i, v);
    }
out:
    free(buf);
    for (Py_ssize_t i = 0; jobs && i < n; i++)
        Py_XDECREF(jobs[i].rel_obj);
    PyMem_Free(jobs);
    Py_XDECREF(seq);
    PyBuffer_Release(&prefix);
    Py_DECREF(root_obj);
    return result;
}

/* chunk_digests(root, rel, size, mtime_ns, inode, chunk) -> bytes | code: the SHA-256 of each
   `chunk`-byte piece of a larger file (its raw leaves, 32 bytes each, in order), under the same checks
   as hash_leaves, in one call without the GIL. The caller builds the DAG from them. */
static PyObject *py_chunk_digests(PyObject *self, PyObject *args) {
    PyObject *root_obj, *out = NULL;
    leaf_t j = {0};
    Py_ssize_t chunk;
    if (!PyArg_ParseTuple(args, "O&yLLKn", PyUnicode_FSConverter, &root_obj, &j.rel, &j.size, &j.mtime_ns,
                          &j.ino, &chunk))
        return NULL;
    unsigned char *buf = NULL;
    if (!load_sha256()) {
        PyErr_SetString(PyExc_RuntimeError, "libcrypto's SHA256 not found");
        goto done;
    }
    if (chunk <= 0 || chunk > (64 << 20) || j.size <= 0) {
        PyErr_SetString(PyExc_ValueError, "chunk_digests takes chunks of 1 B to 64 MiB and a non-empty file");
        goto done;
    }
    size_t nchunks = (size_t)((j.size + chunk - 1) / chunk);
    if (!(out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(nchunks * 32))) || !(buf = malloc((size_t)chunk + 1))) {
        if (out)
            PyErr_NoMemory();
        goto done;
    }
    unsigned char *md = (unsigned char *)PyBytes_AS_STRING(out); /* ours alone until returned */
    const char *root = PyBytes_AS_STRING(root_obj);
    Py_BEGIN_ALLOW_THREADS
    int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        j.code = errno == ENOENT ? LEAF_VANISHED : errno;
    int fd = rootfd < 0 ? -1 : open_checked(rootfd, &j);
    long long left = j.size;
    for (size_t i = 0; fd >= 0 && i < nchunks && !j.code; i++) {
        size_t want = left < chunk ? (size_t)left : (size_t)chunk;
        ssize_t got = read_full(fd, buf, want, &j);
        if (got >= 0 && (size_t)got != want)
            j.code = LEAF_CHANGED; /* shrank */
        else if (got >= 0)
            sha256_oneshot(buf, want, md + 32 * i);
        left -= (long long)want;
    }
    if (fd >= 0 && !j.code && read_full(fd, buf, 1, &j) != 0 && !j.code)
        j.code = LEAF_CHANGED; /* grew */
    if (fd >= 0) {
        if (j.code)
            close(fd);
        else
            close_checked(rootfd, fd, &j);
    }
    if (rootfd >= 0)
        close(rootfd);
    Py_END_ALLOW_THREADS
    if (j.code) {
        Py_CLEAR(out);
        out = PyLong_FromLong(j.code);
    }
done:
    free(buf);
    Py_DECREF(root_obj);
    return out;
}

#endif

/* Native core of the archive scan and hashing (tunasync.archive._walk); scan.py and hashing.py hold
   the pure-Python twins, which give the same results.

   listing(root, skip_dirs, temp_prefix) -> (listing, files, bytes, bad, errors)   the GIL is released
   listing(root, skip_dirs, temp_prefix, start, files_only)   the part of that listing under `start`
       (or only start's own files): listings of disjoint parts, joined in walk order, are the whole one
   records(listing)                      -> [(rel, size, mtime_ns, inode)]     walk order
   records(listing, pos, dirpos, limit)  -> (entries, pos, dirpos)             the same, a chunk at a time
   diff(old, new, extra)                 -> (present, removed)
   hash_leaves(root, items, cid_prefix)  -> [CID text | code]                   the GIL is released
   chunk_digests(root, rel, size, mtime_ns, inode, chunk) -> leaf digests | code  the GIL is released

   A listing is one bytes object instead of a million tuples. Directories come in the walk's order (the
   files of a directory, names sorted by bytes, then its subdirectories depth first); each directory
   holding regular files contributes a directory record and then its file records (native endianness):
     directory: u16 0xFFFF, u32 n, n bytes of the relative path ("" for the root)
     file:      u16 n (1..0xFFFE), n bytes of name, i64 size, i64 mtime s, u32 mtime ns, u64 inode
   Only regular files are listed; symlinks are never followed (openat O_NOFOLLOW, fstatat
   AT_SYMLINK_NOFOLLOW), d_type spares a stat for directories and non-regular entries. An entry that
   vanishes while we walk is simply absent; any other failure becomes an (relative path, errno) error
   and the walk goes on (an unreadable directory is skipped whole, as os.scandir would be).

   diff() merges two listings in walk order: `present` holds the entries of `new` that `old` lacks or
   has with other stats, those whose path is in `extra` and those whose path is not UTF-8; `removed`
   the paths only `old` has. A malformed listing raises ValueError; a well-formed but wrong one can
   only add candidates. `bad` counts the files whose relative path is not strict UTF-8: the index
   (SQLite TEXT) cannot hold them, so the scan reports them every time instead.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "_walk_common.h"
#include "_walk_leaves.h"
#include "_walk_listing.h"

/* ---------------------------------------------------------------------------------------------- */
/* walking                                                                                        */

typedef struct {
    buf_t out, errs, path; /* path: the current directory, relative to the root */
    uint64_t files, bytes, bad;
    char **skip;
    size_t *skip_len;
    Py_ssize_t nskip;
    const char *prefix;
    size_t prefix_len;
    int oom;
    int files_only; /* list this directory's files, not its subdirectories */
} walker_t;

typedef struct {
    const char *name;
    size_t len;
    unsigned char type;
} ent_t;

static int ent_cmp(const void *a, const void *b) {
    const ent_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->len < y->len ? -1 : x->len > y->len);
}

/* an error for the current directory (name NULL) or one of its entries */
static void add_error(walker_t *w, size_t pathlen, const char *name, size_t nlen, int err) {
    uint32_t e = (uint32_t)err, l = (uint32_t)(pathlen + (name ? (pathlen ? 1 : 0) + nlen : 0));
    int bad = buf_put(&w->errs, &e, 4) | buf_put(&w->errs, &l, 4) | (pathlen ? buf_put(&w->errs, w->path.p, pathlen) : 0);
    if (name && pathlen)
        bad |= buf_put(&w->errs, "/", 1);
    if (name)
        bad |= buf_put(&w->errs, name, nlen);
    w->oom |= bad;
}

static int is_skipped_dir(walker_t *w, const char *name, size_t len) {
    for (Py_ssize_t i = 0; i < w->nskip; i++)
        if (w->skip_len[i] == len && memcmp(w->skip[i], name, len) == 0)
            return 1;
    return 0;
}

static void emit_file(walker_t *w, size_t pathlen, int *dir_done, const ent_t *e, const struct stat *st,
                      int bad_dir) {
    if (!*dir_done) {
        uint16_t mark = DIR_MARK;
        uint32_t l = (uint32_t)pathlen;
        w->oom |= buf_put(&w->out, &mark, 2) | buf_put(&w->out, &l, 4) | (pathlen ? buf_put(&w->out, w->path.p, pathlen) : 0);
        *dir_done = 1;
    }
    uint16_t n = (uint16_t)e->len;
    int64_t size = (int64_t)st->st_size, sec = (int64_t)st->st_mtim.tv_sec;
    uint32_t nsec = (uint32_t)st->st_mtim.tv_nsec;
    uint64_t ino = (uint64_t)st->st_ino;
    if (buf_grow(&w->out, 2 + e->len + TAIL)) {
        w->oom = 1;
        return;
    }
    char *p = w->out.p + w->out.len;
    memcpy(p, &n, 2);
    memcpy(p + 2, e->name, e->len);
    p += 2 + e->len;
    memcpy(p, &size, 8);
    memcpy(p + 8, &sec, 8);
    memcpy(p + 16, &nsec, 4);
    memcpy(p + 20, &ino, 8);
    w->out.len += 2 + e->len + TAIL;
    w->files++;
    w->bytes += (uint64_t)size;
    w->bad += bad_dir || !utf8_ok((const unsigned char *)e->name, e->len);
}

/* List directory `dfd` (closed on return) whose relative path is w->path[0:pathlen]. */
static void walk_dir(walker_t *w, int dfd, size_t pathlen, int bad_dir) {
    int dd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = dd >= 0 ? fdopendir(dd) : NULL;
    if (!d) {
        add_error(w, pathlen, NULL, 0, errno);
        if (dd >= 0)
            close(dd);
        close(dfd);
        return;
    }
    buf_t names = {0};
    ent_t *ents = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rerr = 0;
    for (;;) {
        errno = 0;
        if (!(de = readdir(d))) {
            rerr = errno;
            break;
        }
        const char *nm = de->d_name;
        if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0)))
            continue;
        size_t len = strlen(nm);
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            ent_t *grown = realloc(ents, cap * sizeof *ents);
            if (!grown) {
                w->oom = 1;
                break;
            }
            ents = grown;
        }
        ents[n].name = (const char *)(uintptr_t)names.len; /* an offset until the arena stops moving */
        ents[n].len = len;
        ents[n].type = de->d_type;
        n++;
        if (buf_put(&names, nm, len + 1)) { /* with its NUL: fstatat and openat take it as is */
            w->oom = 1;
            break;
        }
    }
    closedir(d);
    if (rerr || w->oom) {
        if (rerr) /* a directory that cannot be read to the end is skipped whole */
            add_error(w, pathlen, NULL, 0, rerr);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        ents[i].name = names.p + (uintptr_t)ents[i].name;
    qsort(ents, n, sizeof *ents, ent_cmp);

    int dir_done = 0;
    for (size_t i = 0; i < n; i++) {
        ent_t *e = &ents[i];
        struct stat st;
        int have_st = 0;
        if (e->type == DT_UNKNOWN) {
            if (fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno != ENOENT)
                    add_error(w, pathlen, e->name, e->len, errno);
                e->type = T_OTHER; /* neither file nor directory */
                continue;
            }
            have_st = 1;
            e->type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : T_OTHER;
        }
        if (e->type != DT_REG) /* directories come next; symlinks, FIFOs, sockets, devices never */
            continue;
        if (e->len >= w->prefix_len && memcmp(e->name, w->prefix, w->prefix_len) == 0)
            continue;
        if (!have_st && fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                add_error(w, pathlen, e->name, e->len, errno);
            continue;
        }
        if (S_ISREG(st.st_mode))
            emit_file(w, pathlen, &dir_done, e, &st, bad_dir);
    }
    for (size_t i = 0; i < n && !w->oom && !w->files_only; i++) {
        ent_t *e = &ents[i];
        if (e->type != DT_DIR || is_skipped_dir(w, e->name, e->len))
            continue;
        /* w->path[0:pathlen] stays ours: children only ever write past it */
        size_t sub = pathlen + (pathlen ? 1 : 0) + e->len;
        w->path.len = pathlen;
        if (buf_grow(&w->path, sub - pathlen)) {
            w->oom = 1;
            break;
        }
        if (pathlen)
            w->path.p[pathlen] = '/';
        memcpy(w->path.p + sub - e->len, e->name, e->len);
        int cfd = openat(dfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0) {
            if (errno != ENOENT)
                add_error(w, pathlen, e->name, e->len, errno);
            continue;
        }
        walk_dir(w, cfd, sub, bad_dir || !utf8_ok((const unsigned char *)e->name, e->len));
    }
done:
    free(ents);
    free(names.p);
    close(dfd);
}

static PyObject *py_listing(PyObject *self, PyObject *args) {
    PyObject *root_obj, *skip_obj;
    const char *prefix, *start = "";
    Py_ssize_t prefix_len, start_len = 0;
    int files_only = 0;
    if (!PyArg_ParseTuple(args, "O&Oy#|y#p", PyUnicode_FSConverter, &root_obj, &skip_obj, &prefix, &prefix_len,
                          &start, &start_len, &files_only))
        return NULL;
    if ((size_t)start_len != strlen(start) || (start_len && (start[0] == '/' || start[start_len - 1] == '/'))) {
        Py_DECREF(root_obj);
        PyErr_SetString(PyExc_ValueError, "start must be a relative directory path");
        return NULL;
    }
    PyObject *skip = PySequence_Fast(skip_obj, "skip_dirs must be a sequence of bytes");
    if (!skip) {
        Py_DECREF(root_obj);
        return NULL;
    }
    walker_t w = {0};
    w.nskip = PySequence_Fast_GET_SIZE(skip);
    w.skip = PyMem_Calloc(w.nskip + 1, sizeof(char *));
    w.skip_len = PyMem_Calloc(w.nskip + 1, sizeof(size_t));
    PyObject *result = NULL;
    if (!w.skip || !w.skip_len) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < w.nskip; i++) {
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(PySequence_Fast_GET_ITEM(skip, i), &w.skip[i], &len) < 0)
            goto out;
        w.skip_len[i] = (size_t)len;
    }
    w.prefix = prefix;
    w.prefix_len = (size_t)prefix_len;
    const char *root = PyBytes_AS_STRING(root_obj);

    w.files_only = files_only;
    if (start_len && buf_put(&w.path, start, (size_t)start_len)) {
        PyErr_NoMemory();
        goto out;
    }
    Py_BEGIN_ALLOW_THREADS
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the root itself may be a symlink */
    if (fd < 0)
        add_error(&w, 0, NULL, 0, errno);
    else if (start_len) { /* a subtree, as the whole walk would list it from its parent */
        int sfd = openat(fd, start, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int err = errno;
        close(fd);
        if (sfd >= 0)
            walk_dir(&w, sfd, (size_t)start_len, !utf8_ok((const unsigned char *)start, (size_t)start_len));
        else if (err != ENOENT)
            add_error(&w, (size_t)start_len, NULL, 0, err);
    } else
        walk_dir(&w, fd, 0, 0);
    Py_END_ALLOW_THREADS

    if (w.oom) {
        PyErr_NoMemory();
        goto out;
    }
    PyObject *errors = PyList_New(0);
    if (!errors)
        goto out;
    for (size_t off = 0; off < w.errs.len;) {
        uint32_t e, l;
        memcpy(&e, w.errs.p + off, 4);
        memcpy(&l, w.errs.p + off + 4, 4);
        PyObject *item = Py_BuildValue("(y#I)", w.errs.p + off + 8, (Py_ssize_t)l, e);
        if (!item || PyList_Append(errors, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(errors);
            goto out;
        }
        Py_DECREF(item);
        off += 8 + l;
    }
    result = Py_BuildValue("(y#KKKN)", w.out.p ? w.out.p : "", (Py_ssize_t)w.out.len, (unsigned long long)w.files,
                           (unsigned long long)w.bytes, (unsigned long long)w.bad, errors);
out:
    free(w.out.p);
    free(w.errs.p);
    free(w.path.p);
    PyMem_Free(w.skip);
    PyMem_Free(w.skip_len);
    Py_DECREF(skip);
    Py_DECREF(root_obj);
    return result;
}

static PyMethodDef methods[] = {
    {"listing", py_listing, METH_VARARGS, "listing(root, skip_dirs, prefix) -> (listing, files, bytes, bad, errors)"},
    {"records", py_records, METH_VARARGS,
     "records(listing[, pos, dirpos, limit]) -> [(rel, size, mtime_ns, inode)] in walk order [, pos, dirpos]"},
    {"diff", py_diff, METH_VARARGS, "diff(old, new, extra: set[bytes]) -> (present entries, removed paths)"},
    {"chunk_digests", py_chunk_digests, METH_VARARGS, "chunk_digests(root, rel, size, mtime_ns, inode, chunk) -> bytes | code"},
    {"hash_leaves", py_hash_leaves, METH_VARARGS, "hash_leaves(root, [(rel, size, mtime_ns, inode)], cid_prefix) -> [CID text | code]"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_walk", "Native core of the archive scan and hashing.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }

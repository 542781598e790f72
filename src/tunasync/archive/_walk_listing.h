/* Reading and diffing listings (records, diff) for tunasync.archive._walk; included once, by _walk.c. */
#ifndef TUNASYNC_WALK_LISTING_H
#define TUNASYNC_WALK_LISTING_H

typedef struct {
    const unsigned char *p, *end;
    const unsigned char *dir, *name;
    size_t dirlen, namelen;
    int have_dir, dir_changed, dir_bad;
    int64_t size, sec;
    uint32_t nsec;
    uint64_t ino;
    buf_t full; /* dir + "/" + name, rebuilt as we go */
} cur_t;

/* Read the directory record at c->p (its mark included); 0, or -1 with an exception set. */
static int cur_dir_only(cur_t *c) {
    uint32_t l;
    if (c->end - c->p < 6) {
        PyErr_SetString(PyExc_ValueError, "malformed listing");
        return -1;
    }
    memcpy(&l, c->p + 2, 4);
    c->p += 6;
    if ((size_t)(c->end - c->p) < l) {
        PyErr_SetString(PyExc_ValueError, "malformed listing");
        return -1;
    }
    c->dir = c->p;
    c->dirlen = l;
    c->p += l;
    c->have_dir = c->dir_changed = 1;
    c->dir_bad = !utf8_ok(c->dir, l);
    c->full.len = 0;
    if (buf_put(&c->full, c->dir, l) || (l && buf_put(&c->full, "/", 1))) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* 1: an entry; 0: the end; -1: malformed (ValueError set) */
static int cur_next(cur_t *c) {
    for (;;) {
        if (c->p == c->end)
            return 0;
        uint16_t n;
        if (c->end - c->p < 2)
            goto bad;
        memcpy(&n, c->p, 2);
        c->p += 2;
        if (n == DIR_MARK) {
            c->p -= 2;
            if (cur_dir_only(c) < 0)
                return -1;
            continue;
        }
        if (!c->have_dir || n == 0 || (size_t)(c->end - c->p) < n + (size_t)TAIL)
            goto bad;
        c->name = c->p;
        c->namelen = n;
        c->p += n;
        memcpy(&c->size, c->p, 8);
        memcpy(&c->sec, c->p + 8, 8);
        memcpy(&c->nsec, c->p + 16, 4);
        memcpy(&c->ino, c->p + 20, 8);
        c->p += TAIL;
        size_t base = c->dirlen + (c->dirlen ? 1 : 0);
        c->full.len = base;
        if (buf_put(&c->full, c->name, n)) {
            PyErr_NoMemory();
            return -1;
        }
        return 1;
    }
bad:
    PyErr_SetString(PyExc_ValueError, "malformed listing");
    return -1;
}

static PyObject *mtime_ns(int64_t sec, uint32_t nsec) {
    if (sec > -9000000000LL && sec < 9000000000LL)
        return PyLong_FromLongLong(sec * 1000000000LL + (int64_t)nsec);
    PyObject *s = PyLong_FromLongLong(sec), *g = PyLong_FromLong(1000000000L), *ns = PyLong_FromUnsignedLong(nsec);
    PyObject *prod = s && g ? PyNumber_Multiply(s, g) : NULL;
    PyObject *out = prod && ns ? PyNumber_Add(prod, ns) : NULL;
    Py_XDECREF(s);
    Py_XDECREF(g);
    Py_XDECREF(ns);
    Py_XDECREF(prod);
    return out;
}

static PyObject *entry_tuple(const cur_t *c) {
    PyObject *rel = PyUnicode_DecodeFSDefaultAndSize(c->full.p, (Py_ssize_t)c->full.len);
    PyObject *mt = rel ? mtime_ns(c->sec, c->nsec) : NULL;
    if (!mt) {
        Py_XDECREF(rel);
        return NULL;
    }
    return Py_BuildValue("(NLNK)", rel, (long long)c->size, mt, (unsigned long long)c->ino);
}

static int append_new(PyObject *list, PyObject *item) {
    if (!item)
        return -1;
    int r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

/* records(listing) -> entries; records(listing, pos, dirpos, limit) -> (entries, pos, dirpos): at most
   `limit` entries from offset `pos` (a file record of the directory record at `dirpos`, or any record
   when dirpos is -1); the returned pair resumes after them, pos == len(listing) at the end. */
static PyObject *py_records(PyObject *self, PyObject *args) {
    Py_buffer b;
    Py_ssize_t pos = 0, dirpos = -1, limit = -1;
    if (!PyArg_ParseTuple(args, "y*|nnn", &b, &pos, &dirpos, &limit))
        return NULL;
    int chunked = PyTuple_GET_SIZE(args) > 1;
    const unsigned char *base = b.buf;
    cur_t c = {.p = base, .end = base + b.len};
    PyObject *out = NULL, *result = NULL;
    if (pos < 0 || pos > b.len || dirpos < -1 || dirpos >= b.len || (dirpos >= 0 && dirpos >= pos)) {
        PyErr_SetString(PyExc_ValueError, "bad listing position");
        goto out;
    }
    if (dirpos >= 0) { /* re-read the directory record, then go on at pos */
        c.p = base + dirpos;
        uint16_t mark = 0;
        if (c.end - c.p >= 2)
            memcpy(&mark, c.p, 2);
        int r = mark == DIR_MARK ? cur_dir_only(&c) : -1;
        if (r < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "malformed listing");
            goto out;
        }
    }
    c.p = base + pos;
    if (!(out = PyList_New(0)))
        goto out;
    int r = 0;
    while ((limit < 0 || PyList_GET_SIZE(out) < limit) && (r = cur_next(&c)) != 0) {
        if (r < 0 || append_new(out, entry_tuple(&c)) < 0) {
            Py_CLEAR(out);
            goto out;
        }
    }
    if (!chunked) {
        result = out;
        out = NULL;
    } else
        result = Py_BuildValue("(Onn)", out, (Py_ssize_t)(c.p - base), c.have_dir ? (Py_ssize_t)(c.dir - base) - 6 : (Py_ssize_t)-1);
out:
    Py_XDECREF(out);
    free(c.full.p);
    PyBuffer_Release(&b);
    return result;
}

/* ---------------------------------------------------------------------------------------------- */
/* diffing                                                                                        */

/* Walk order of two relative paths: component by component, a directory's files (last components)
   before its subdirectories, names by bytes. */
static int path_cmp(const char *a, size_t alen, const char *b, size_t blen) {
    size_t i = 0;
    for (;;) {
        const char *sa = memchr(a + i, '/', alen - i), *sb = memchr(b + i, '/', blen - i);
        size_t ea = sa ? (size_t)(sa - a) : alen, eb = sb ? (size_t)(sb - b) : blen;
        int last_a = !sa, last_b = !sb;
        if (last_a != last_b)
            return last_a ? -1 : 1;
        size_t la = ea - i, lb = eb - i, m = la < lb ? la : lb;
        int c = memcmp(a + i, b + i, m);
        if (c)
            return c;
        if (la != lb)
            return la < lb ? -1 : 1;
        if (last_a)
            return 0;
        i = ea + 1;
    }
}

typedef struct {
    const char *p;
    size_t len;
    uint64_t h;
} slot_t;

typedef struct {
    slot_t *slots;
    size_t mask;
} set_t;

static uint64_t fnv(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h | 1; /* 0 marks an empty slot */
}

static int set_build(set_t *s, PyObject *extra) {
    Py_ssize_t n = PySet_Size(extra);
    if (n < 0)
        return -1;
    size_t cap = 16;
    while (cap < (size_t)n * 2 + 1)
        cap *= 2;
    s->slots = PyMem_Calloc(cap, sizeof(slot_t));
    s->mask = cap - 1;
    if (!s->slots) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *it = PyObject_GetIter(extra), *item;
    if (!it)
        return -1;
    while ((item = PyIter_Next(it))) {
        char *p;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(item, &p, &len) < 0) {
            Py_DECREF(item);
            Py_DECREF(it);
            return -1;
        }
        uint64_t h = fnv(p, (size_t)len);
        size_t i = h & s->mask;
        while (s->slots[i].h)
            i = (i + 1) & s->mask;
        s->slots[i] = (slot_t){p, (size_t)len, h}; /* the set keeps the bytes alive during the call */
        Py_DECREF(item);
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static int set_has(const set_t *s, const char *p, size_t len) {
    uint64_t h = fnv(p, len);
    for (size_t i = h & s->mask; s->slots[i].h; i = (i + 1) & s->mask)
        if (s->slots[i].h == h && s->slots[i].len == len && memcmp(s->slots[i].p, p, len) == 0)
            return 1;
    return 0;
}

static PyObject *removed_path(const cur_t *c) {
    return PyUnicode_DecodeFSDefaultAndSize(c->full.p, (Py_ssize_t)c->full.len);
}

static PyObject *py_diff(PyObject *self, PyObject *args) {
    Py_buffer ob, nb;
    PyObject *extra;
    if (!PyArg_ParseTuple(args, "y*y*O!", &ob, &nb, &PySet_Type, &extra))
        return NULL;
    cur_t a = {.p = ob.buf, .end = (const unsigned char *)ob.buf + ob.len};
    cur_t b = {.p = nb.buf, .end = (const unsigned char *)nb.buf + nb.len};
    set_t s = {0};
    int use_set = PySet_GET_SIZE(extra) > 0;
    PyObject *present = PyList_New(0), *removed = PyList_New(0), *result = NULL;
    if (!present || !removed || (use_set && set_build(&s, extra) < 0))
        goto out;
    int ra = cur_next(&a), rb = cur_next(&b), same_dir = 0;
    if (ra < 0 || rb < 0)
        goto out;
    while (ra || rb) {
        int c;
        if (!rb)
            c = -1;
        else if (!ra)
            c = 1;
        else {
            if (a.dir_changed || b.dir_changed) {
                same_dir = a.dirlen == b.dirlen && memcmp(a.dir, b.dir, a.dirlen) == 0;
                a.dir_changed = b.dir_changed = 0;
            }
            if (same_dir) {
                size_t m = a.namelen < b.namelen ? a.namelen : b.namelen;
                c = memcmp(a.name, b.name, m);
                if (!c)
                    c = a.namelen < b.namelen ? -1 : a.namelen > b.namelen;
            } else
                c = path_cmp(a.full.p, a.full.len, b.full.p, b.full.len);
        }
        if (c < 0) {
            if (append_new(removed, removed_path(&a)) < 0)
                goto out;
        } else if (c > 0 || a.size != b.size || a.sec != b.sec || a.nsec != b.nsec || a.ino != b.ino ||
                   (use_set && set_has(&s, b.full.p, b.full.len)) || b.dir_bad || !utf8_ok(b.name, b.namelen)) {
            if (append_new(present, entry_tuple(&b)) < 0)
                goto out;
        }
        if (c <= 0 && (ra = cur_next(&a)) < 0)
            goto out;
        if (c >= 0 && (rb = cur_next(&b)) < 0)
            goto out;
    }
    result = PyTuple_Pack(2, present, removed);
out:
    Py_XDECREF(present);
    Py_XDECREF(removed);
    PyMem_Free(s.slots);
    free(a.full.p);
    free(b.full.p);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&nb);
    return result;
}

#endif

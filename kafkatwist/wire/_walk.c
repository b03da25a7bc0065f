/*
 * kafkatwist.wire._walk: the compiled record walker (Kafka's DefaultRecord reading).
 *
 * walk(data, count, keys, max_errors, base_timestamp, max_timestamp,
 *      log_append_batch, create_time, now, before_max, after_max)
 * walks the records section of one uncompressed (or already decompressed) v2
 * record batch and checks what Kafka's DefaultRecord.readFrom and
 * DefaultRecordBatch's record iterator check, a little more strictly, then
 * each record's key and timestamp as LogValidator.validateRecord does (see
 * kafkatwist/wire/walk.py, the pure-Python implementation this must agree
 * with exactly, and its docstring).
 *
 * Returns a str (the first violation, for an INVALID_RECORD answer) or a tuple
 * (max_timestamp, key_errors, timestamp_errors, errors): the largest record
 * timestamp (-1 unless one is larger), how many records lack a key (counted
 * only when keys is true) and how many have a timestamp Kafka refuses, and the
 * first max_errors of those records as (index, kind, timestamp, offset_delta,
 * key_size, value_size), kind 0 (no key), 1 (timestamp out of range) or 2
 * (LogAppendTime set by the producer). Nothing is copied and nothing is
 * allocated for a record that passes; the GIL is held (the walk is a few
 * nanoseconds per record).
 *
 * find_timestamp(data, count, base_timestamp, target, exact, min_delta) finds
 * the first record (of offset delta >= min_delta) whose timestamp is >= target
 * (== target when exact) in the same records section, for ListOffsets: it
 * returns (offset_delta, timestamp) or None, and raises ValueError for records
 * it cannot read. It reads each record's length, timestamp delta and offset
 * delta and jumps to the next; nothing is allocated per record. The GIL is
 * released while it walks (the buffer is pinned by the Py_buffer).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} cursor;

/* A zig-zag varint of at most 5 bytes whose value fits 32 bits. */
static int read_varint(cursor *c, int32_t *out) {
    uint32_t raw = 0;
    for (int i = 0; i < 5; i++) {
        if (c->p >= c->end) return -1;
        unsigned char b = *c->p++;
        if (i == 4 && b > 0x0f) return -1;
        raw |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int32_t)((raw >> 1) ^ (~(raw & 1) + 1));
            return 0;
        }
    }
    return -1;
}

/* A zig-zag varlong of at most 10 bytes whose value fits 64 bits. */
static int read_varlong(cursor *c, int64_t *out) {
    uint64_t raw = 0;
    for (int i = 0; i < 10; i++) {
        if (c->p >= c->end) return -1;
        unsigned char b = *c->p++;
        if (i == 9 && b > 0x01) return -1;
        raw |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)((raw >> 1) ^ (~(raw & 1) + 1));
            return 0;
        }
    }
    return -1;
}

/* Strict UTF-8, as Python's bytes.decode("utf-8") accepts it. */
static int valid_utf8(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        int extra;
        uint32_t cp;
        if (b >= 0xc2 && b <= 0xdf) {
            extra = 1;
            cp = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
            extra = 2;
            cp = b & 0x0f;
        } else if (b >= 0xf0 && b <= 0xf4) {
            extra = 3;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (i + extra >= n) return 0;
        for (int k = 1; k <= extra; k++) {
            unsigned char cb = s[i + k];
            if ((cb & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (cb & 0x3f);
        }
        if ((extra == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += extra + 1;
    }
    return 1;
}

/* Reads a length-prefixed field ending before rec_end; *len is -1 for null. */
static int read_field(cursor *c, const unsigned char *rec_end, int32_t *len) {
    if (read_varint(c, len) < 0) return -1;
    if (*len < -1) return -2;
    if (*len >= 0) {
        if (*len > rec_end - c->p) return -3;
        c->p += *len;
    }
    return 0;
}

enum { KEY_ERROR = 0, RANGE_ERROR = 1, TYPE_ERROR = 2 };

/* Java's long arithmetic, which wraps around 64 bits. */
static int64_t wrap_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static int64_t wrap_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }

static PyObject *walk(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t count, max_errors;
    int keys, log_append_batch, create_time;
    long long base_timestamp, batch_max_timestamp, now, before_max, after_max;
    if (!PyArg_ParseTuple(args, "y*npnLLppLLL", &view, &count, &keys, &max_errors,
                          &base_timestamp, &batch_max_timestamp, &log_append_batch,
                          &create_time, &now, &before_max, &after_max))
        return NULL;
    const unsigned char *base = (const unsigned char *)view.buf;
    cursor c = {base, base + view.len};
    PyObject *errors = PyList_New(0);
    const char *error = NULL;
    Py_ssize_t index = 0, key_errors = 0, timestamp_errors = 0;
    int64_t max_timestamp = -1;
    if (errors == NULL) goto fail;
    for (; index < count; index++) {
        if (c.p >= c.end) {
            error = "incorrect declared batch size, premature EOF reached";
            goto bad;
        }
        cursor whole = {c.p, c.end};
        int32_t length;
        if (read_varint(&whole, &length) < 0) {
            error = "found invalid record structure: bad record length varint";
            goto bad;
        }
        if (length < 6 || length > whole.end - whole.p) {
            error = "invalid record size: the record length does not fit the batch";
            goto bad;
        }
        const unsigned char *rec_end = whole.p + length;
        cursor r = {whole.p, rec_end};
        if (*r.p++ & 0x80) {
            error = "found invalid record structure: record attributes out of range";
            goto bad;
        }
        int32_t scratch, key_len, value_len, offset_delta, hcount;
        int64_t delta;
        if (read_varlong(&r, &delta) < 0 || read_varint(&r, &offset_delta) < 0) {
            error = "found invalid record structure: bad timestamp or offset delta varint";
            goto bad;
        }
        if (read_field(&r, rec_end, &key_len) < 0 || read_field(&r, rec_end, &value_len) < 0) {
            error = "found invalid record structure: bad key or value length";
            goto bad;
        }
        if (read_varint(&r, &hcount) < 0 || hcount < 0 || hcount > (rec_end - r.p) / 2) {
            error = "found invalid number of record headers";
            goto bad;
        }
        for (int32_t h = 0; h < hcount; h++) {
            int32_t hkey;
            const unsigned char *start;
            if (read_varint(&r, &hkey) < 0 || hkey < 0 || hkey > rec_end - r.p) {
                error = "found invalid record structure: bad header key length";
                goto bad;
            }
            start = r.p;
            r.p += hkey;
            if (!valid_utf8(start, hkey)) {
                error = "found invalid record structure: header key is not UTF-8";
                goto bad;
            }
            if (read_field(&r, rec_end, &scratch) < 0) {
                error = "found invalid record structure: bad header value length";
                goto bad;
            }
        }
        if (r.p != rec_end) {
            error = "invalid record size: the record's fields do not fill its length";
            goto bad;
        }
        /* LogValidator.validateRecord: the key, then the timestamp. */
        int64_t timestamp =
            log_append_batch ? batch_max_timestamp : wrap_add(base_timestamp, delta);
        if (timestamp > max_timestamp) max_timestamp = timestamp;
        int kind = -1;
        if (keys && key_len < 0) {
            kind = KEY_ERROR;
            key_errors++;
        } else if (create_time && timestamp != -1) {
            int64_t diff = wrap_sub(now, timestamp);
            if (diff > before_max || wrap_sub(0, diff) > after_max) kind = RANGE_ERROR;
        } else if (log_append_batch) {
            kind = TYPE_ERROR;
        }
        if (kind > KEY_ERROR) timestamp_errors++;
        if (kind >= 0 && PyList_GET_SIZE(errors) < max_errors) {
            PyObject *e = Py_BuildValue("(niLiii)", index, kind, (long long)timestamp,
                                        (int)offset_delta, key_len < 0 ? 0 : (int)key_len,
                                        value_len < 0 ? 0 : (int)value_len);
            if (e == NULL || PyList_Append(errors, e) < 0) {
                Py_XDECREF(e);
                goto fail;
            }
            Py_DECREF(e);
        }
        c.p = rec_end;
    }
    if (c.p != c.end) {
        error = "incorrect declared batch size, records still remaining in file";
        goto bad;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(LnnN)", (long long)max_timestamp, key_errors, timestamp_errors,
                         errors);
bad:
    Py_DECREF(errors);
    PyBuffer_Release(&view);
    return PyUnicode_FromFormat("%s (record %zd)", error, index);
fail:
    Py_XDECREF(errors);
    PyBuffer_Release(&view);
    return NULL;
}

static PyObject *find_timestamp(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t count;
    long long base_timestamp, target, min_delta;
    int exact;
    if (!PyArg_ParseTuple(args, "y*nLLpL", &view, &count, &base_timestamp, &target, &exact,
                          &min_delta))
        return NULL;
    const unsigned char *base = (const unsigned char *)view.buf;
    cursor c = {base, base + view.len};
    const char *error = NULL;
    Py_ssize_t index = 0;
    int found = 0;
    int32_t offset_delta = 0;
    int64_t timestamp = 0;
    if (count < 0) {
        PyBuffer_Release(&view);
        return PyErr_Format(PyExc_ValueError, "found invalid record count %zd", count);
    }
    Py_BEGIN_ALLOW_THREADS
    for (; index < count; index++) {
        int32_t length;
        int64_t delta;
        if (c.p >= c.end) {
            error = "incorrect declared batch size, premature EOF reached";
            break;
        }
        if (read_varint(&c, &length) < 0) {
            error = "found invalid record structure: bad record length varint";
            break;
        }
        if (length < 3 || length > c.end - c.p) {
            error = "invalid record size: the record length does not fit the batch";
            break;
        }
        cursor r = {c.p + 1, c.p + length};
        if (read_varlong(&r, &delta) < 0 || read_varint(&r, &offset_delta) < 0) {
            error = "found invalid record structure: bad timestamp or offset delta varint";
            break;
        }
        timestamp = (int64_t)((uint64_t)base_timestamp + (uint64_t)delta);
        if (offset_delta >= min_delta && (exact ? timestamp == target : timestamp >= target)) {
            found = 1;
            break;
        }
        c.p += length;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (error != NULL) return PyErr_Format(PyExc_ValueError, "%s (record %zd)", error, index);
    if (!found) Py_RETURN_NONE;
    return Py_BuildValue("(iL)", (int)offset_delta, (long long)timestamp);
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(data, count, keys, max_errors, base_timestamp, max_timestamp, log_append_batch, "
     "create_time, now, before_max, after_max) -> str | tuple: check the records of a batch."},
    {"find_timestamp", find_timestamp, METH_VARARGS,
     "find_timestamp(data, count, base_timestamp, target, exact, min_delta) -> "
     "tuple[int, int] | None: the first record at or after a timestamp."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "kafkatwist.wire._walk", "The compiled record walker.", -1, methods,
};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }

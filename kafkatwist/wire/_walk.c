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
 *
 * The log cleaner's kernels (kafkatwist/wire/compact.py is the pure-Python
 * twin they must agree with exactly) work on an offset map laid out as
 * Kafka's SkimpyOffsetMap lays out its buffer: `slots` entries of 24 bytes,
 * the MD5 of a key (16 bytes) then its offset (int64, big-endian), an
 * all-zero entry being empty, probed as SkimpyOffsetMap.positionOf probes:
 *   map_put(table, slots, entries, key, offset) -> entries
 *   map_get(table, slots, key) -> offset or -1
 *   map_index(table, slots, entries, max_entries, latest, records, count,
 *             base_offset, start_offset, end_offset)
 *       -> (entries, latest, records_read, full)
 *   filter_records(table, slots, latest, records, count, base_offset,
 *                  retain_deletes, base_timestamp, new_base_timestamp)
 *       -> (kept_bytes, kept, max_timestamp, tombstones, max_offset)
 * The GIL is released while they walk records.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

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


/* ---- MD5 (RFC 1321), for the offset map's key hashes ---- */

static const uint32_t md5_k[64] = {
    0xd76aa478u, 0xe8c7b756u, 0x242070dbu, 0xc1bdceeeu, 0xf57c0fafu, 0x4787c62au, 0xa8304613u,
    0xfd469501u, 0x698098d8u, 0x8b44f7afu, 0xffff5bb1u, 0x895cd7beu, 0x6b901122u, 0xfd987193u,
    0xa679438eu, 0x49b40821u, 0xf61e2562u, 0xc040b340u, 0x265e5a51u, 0xe9b6c7aau, 0xd62f105du,
    0x02441453u, 0xd8a1e681u, 0xe7d3fbc8u, 0x21e1cde6u, 0xc33707d6u, 0xf4d50d87u, 0x455a14edu,
    0xa9e3e905u, 0xfcefa3f8u, 0x676f02d9u, 0x8d2a4c8au, 0xfffa3942u, 0x8771f681u, 0x6d9d6122u,
    0xfde5380cu, 0xa4beea44u, 0x4bdecfa9u, 0xf6bb4b60u, 0xbebfbc70u, 0x289b7ec6u, 0xeaa127fau,
    0xd4ef3085u, 0x04881d05u, 0xd9d4d039u, 0xe6db99e5u, 0x1fa27cf8u, 0xc4ac5665u, 0xf4292244u,
    0x432aff97u, 0xab9423a7u, 0xfc93a039u, 0x655b59c3u, 0x8f0ccc92u, 0xffeff47du, 0x85845dd1u,
    0x6fa87e4fu, 0xfe2ce6e0u, 0xa3014314u, 0x4e0811a1u, 0xf7537e82u, 0xbd3af235u, 0x2ad7d2bbu,
    0xeb86d391u,
};
static const unsigned char md5_r[16] = {7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21};

static void md5_block(uint32_t h[4], const unsigned char *p) {
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
        }
        uint32_t t = d;
        d = c;
        c = b;
        uint32_t x = a + f + md5_k[i] + w[g];
        int r = md5_r[(i >> 4) * 4 + (i & 3)];
        b = b + ((x << r) | (x >> (32 - r)));
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

static void md5(const unsigned char *msg, size_t len, unsigned char out[16]) {
    uint32_t h[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
    size_t i = 0;
    for (; i + 64 <= len; i += 64) md5_block(h, msg + i);
    unsigned char tail[128];
    size_t rest = len - i;
    memcpy(tail, msg + i, rest);
    tail[rest] = 0x80;
    size_t total = rest + 1 + 8 <= 64 ? 64 : 128;
    memset(tail + rest + 1, 0, total - rest - 1);
    uint64_t bits = (uint64_t)len * 8;
    for (int k = 0; k < 8; k++) tail[total - 8 + k] = (unsigned char)(bits >> (8 * k));
    md5_block(h, tail);
    if (total == 128) md5_block(h, tail + 64);
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 4; j++) out[4 * k + j] = (unsigned char)(h[k] >> (8 * j));
}

/* ---- the offset map (SkimpyOffsetMap's layout and probing) ---- */

#define ENTRY 24

static Py_ssize_t slot_of(const unsigned char *hash, Py_ssize_t attempt, Py_ssize_t slots) {
    Py_ssize_t at = attempt < 12 ? attempt : 12;
    uint32_t raw = (uint32_t)hash[at] << 24 | (uint32_t)hash[at + 1] << 16 |
                   (uint32_t)hash[at + 2] << 8 | (uint32_t)hash[at + 3];
    /* Java int arithmetic: wraps; Utils.abs(MIN_VALUE) is 0. */
    int32_t probe = (int32_t)(raw + (uint32_t)(attempt > 12 ? attempt - 12 : 0));
    int64_t positive = probe == INT32_MIN ? 0 : (probe < 0 ? -(int64_t)probe : probe);
    return (Py_ssize_t)(positive % slots);
}

static int is_empty(const unsigned char *e) {
    for (int i = 0; i < ENTRY; i++)
        if (e[i]) return 0;
    return 1;
}

static void put_offset(unsigned char *e, int64_t offset) {
    for (int k = 0; k < 8; k++) e[16 + k] = (unsigned char)((uint64_t)offset >> (56 - 8 * k));
}

static int64_t get_offset(const unsigned char *e) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v = v << 8 | e[16 + k];
    return (int64_t)v;
}

/* Returns 1 if a new slot was taken, 0 if the key's entry was updated, -1 if the map is full. */
static int table_put(unsigned char *table, Py_ssize_t slots, Py_ssize_t entries,
                     const unsigned char *key, Py_ssize_t key_len, int64_t offset) {
    unsigned char hash[16];
    if (entries >= slots) return -1;
    md5(key, (size_t)key_len, hash);
    for (Py_ssize_t attempt = 0;; attempt++) {
        unsigned char *e = table + slot_of(hash, attempt, slots) * ENTRY;
        if (is_empty(e)) {
            memcpy(e, hash, 16);
            put_offset(e, offset);
            return 1;
        }
        if (memcmp(e, hash, 16) == 0) {
            put_offset(e, offset);
            return 0;
        }
    }
}

static int64_t table_get(const unsigned char *table, Py_ssize_t slots, const unsigned char *key,
                         Py_ssize_t key_len) {
    unsigned char hash[16];
    md5(key, (size_t)key_len, hash);
    Py_ssize_t max_attempts = slots + 12;
    for (Py_ssize_t attempt = 0; attempt < max_attempts; attempt++) {
        const unsigned char *e = table + slot_of(hash, attempt, slots) * ENTRY;
        if (is_empty(e)) return -1;
        if (memcmp(e, hash, 16) == 0) return get_offset(e);
    }
    return -1;
}

static int check_table(Py_buffer *table, Py_ssize_t slots) {
    if (slots <= 0 || table->len < slots * ENTRY) {
        PyErr_SetString(PyExc_ValueError, "the offset map table is smaller than its slots");
        return -1;
    }
    return 0;
}

static PyObject *map_put(PyObject *self, PyObject *args) {
    Py_buffer table, key;
    Py_ssize_t slots, entries;
    long long offset;
    if (!PyArg_ParseTuple(args, "w*nny*L", &table, &slots, &entries, &key, &offset)) return NULL;
    PyObject *result = NULL;
    if (check_table(&table, slots) == 0) {
        int took = table_put(table.buf, slots, entries, key.buf, key.len, offset);
        if (took < 0)
            PyErr_SetString(PyExc_ValueError, "Attempted to add a new entry to a full offset map.");
        else
            result = PyLong_FromSsize_t(entries + took);
    }
    PyBuffer_Release(&table);
    PyBuffer_Release(&key);
    return result;
}

static PyObject *map_get(PyObject *self, PyObject *args) {
    Py_buffer table, key;
    Py_ssize_t slots;
    if (!PyArg_ParseTuple(args, "y*ny*", &table, &slots, &key)) return NULL;
    PyObject *result = NULL;
    if (check_table(&table, slots) == 0)
        result = PyLong_FromLongLong(table_get(table.buf, slots, key.buf, key.len));
    PyBuffer_Release(&table);
    PyBuffer_Release(&key);
    return result;
}

/* One record's parts, as the cleaner needs them. */
typedef struct {
    const unsigned char *start;    /* the length varint */
    const unsigned char *body;     /* the attributes byte, after the length */
    const unsigned char *after_ts; /* just after the timestamp delta */
    const unsigned char *end;
    int64_t ts_delta;
    int32_t offset_delta;
    const unsigned char *key;
    int32_t key_len;
    int32_t value_len;
} rec_parts;

static int read_parts(cursor *c, rec_parts *r) {
    int32_t length;
    r->start = c->p;
    if (read_varint(c, &length) < 0 || length < 6 || length > c->end - c->p) return -1;
    r->body = c->p;
    r->end = c->p + length;
    cursor in = {c->p + 1, r->end};
    if (read_varlong(&in, &r->ts_delta) < 0) return -1;
    r->after_ts = in.p;
    if (read_varint(&in, &r->offset_delta) < 0) return -1;
    if (read_varint(&in, &r->key_len) < 0 || r->key_len < -1 || r->key_len > in.end - in.p)
        return -1;
    r->key = in.p;
    if (r->key_len > 0) in.p += r->key_len;
    if (read_varint(&in, &r->value_len) < 0 || r->value_len < -1 || r->value_len > in.end - in.p)
        return -1;
    c->p = r->end;
    return 0;
}

static PyObject *map_index(PyObject *self, PyObject *args) {
    Py_buffer table, data;
    Py_ssize_t slots, entries, max_entries, count;
    long long latest, base_offset, start_offset, end_offset;
    if (!PyArg_ParseTuple(args, "w*nnnLy*nLLL", &table, &slots, &entries, &max_entries, &latest,
                          &data, &count, &base_offset, &start_offset, &end_offset))
        return NULL;
    if (check_table(&table, slots) < 0) {
        PyBuffer_Release(&table);
        PyBuffer_Release(&data);
        return NULL;
    }
    cursor c = {data.buf, (const unsigned char *)data.buf + data.len};
    Py_ssize_t index = 0, read = 0;
    int full = 0, bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; index < count; index++) {
        rec_parts r;
        if (read_parts(&c, &r) < 0) {
            bad = 1;
            break;
        }
        int64_t offset = base_offset + r.offset_delta;
        if (r.key_len >= 0 && offset >= start_offset && offset < end_offset) {
            if (entries >= max_entries) {
                full = 1;
                break;
            }
            int took = table_put(table.buf, slots, entries, r.key, r.key_len, offset);
            if (took < 0) {
                full = 1;
                break;
            }
            entries += took;
            latest = offset;
        }
        read++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&table);
    PyBuffer_Release(&data);
    if (bad) return PyErr_Format(PyExc_ValueError, "unreadable record %zd in a batch", index);
    return Py_BuildValue("(nLni)", entries, latest, read, full);
}

static unsigned char *put_varint(unsigned char *p, uint64_t zz) {
    while (zz >= 0x80) {
        *p++ = (unsigned char)(zz | 0x80);
        zz >>= 7;
    }
    *p++ = (unsigned char)zz;
    return p;
}

static PyObject *filter_records(PyObject *self, PyObject *args) {
    Py_buffer table, data;
    Py_ssize_t slots, count;
    long long latest, base_offset, base_ts, new_base_ts;
    int retain_deletes;
    if (!PyArg_ParseTuple(args, "y*nLy*nLpLL", &table, &slots, &latest, &data, &count,
                          &base_offset, &retain_deletes, &base_ts, &new_base_ts))
        return NULL;
    if (check_table(&table, slots) < 0) {
        PyBuffer_Release(&table);
        PyBuffer_Release(&data);
        return NULL;
    }
    if (count < 0 || count > data.len) {
        /* Every record takes at least 7 bytes: a count past the data is a corrupt header. */
        PyBuffer_Release(&table);
        PyBuffer_Release(&data);
        return PyErr_Format(PyExc_ValueError, "a batch of %zd bytes cannot hold %zd records",
                            data.len, count);
    }
    int rewrite = base_ts != new_base_ts;
    /* A rewritten delta and length take at most 10 + 5 bytes where they took 2 at least. */
    Py_ssize_t room = data.len + (rewrite ? count * 13 : 0);
    PyObject *out = PyBytes_FromStringAndSize(NULL, room);
    if (out == NULL) {
        PyBuffer_Release(&table);
        PyBuffer_Release(&data);
        return NULL;
    }
    unsigned char *w = (unsigned char *)PyBytes_AS_STRING(out);
    cursor c = {data.buf, (const unsigned char *)data.buf + data.len};
    Py_ssize_t index = 0, kept = 0;
    int64_t max_ts = -1, max_offset = -1;
    int tombstones = 0, bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; index < count; index++) {
        rec_parts r;
        if (read_parts(&c, &r) < 0) {
            bad = 1;
            break;
        }
        int64_t offset = base_offset + r.offset_delta;
        int keep;
        if (offset > latest) {
            keep = 1;
        } else if (r.key_len < 0) {
            keep = 0;
        } else {
            int64_t found = table_get(table.buf, slots, r.key, r.key_len);
            keep = offset >= found && (r.value_len >= 0 || retain_deletes);
        }
        if (!keep) continue;
        kept++;
        int64_t ts = wrap_add(base_ts, r.ts_delta);
        if (ts > max_ts) max_ts = ts;
        if (offset > max_offset) max_offset = offset;
        if (r.value_len < 0) tombstones = 1;
        if (!rewrite) {
            memcpy(w, r.start, r.end - r.start);
            w += r.end - r.start;
        } else {
            unsigned char delta_buf[10];
            int64_t d = wrap_sub(ts, new_base_ts);
            uint64_t zz = ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
            Py_ssize_t dlen = put_varint(delta_buf, zz) - delta_buf;
            Py_ssize_t rest = r.end - r.after_ts;
            int64_t body = 1 + dlen + rest;
            w = put_varint(w, ((uint64_t)body << 1) ^ (uint64_t)(body >> 63));
            *w++ = *r.body; /* the attributes byte */
            memcpy(w, delta_buf, dlen);
            w += dlen;
            memcpy(w, r.after_ts, rest);
            w += rest;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&table);
    PyBuffer_Release(&data);
    if (bad) {
        Py_DECREF(out);
        return PyErr_Format(PyExc_ValueError, "unreadable record %zd in a batch", index);
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)(w - (unsigned char *)PyBytes_AS_STRING(out))) < 0)
        return NULL;
    return Py_BuildValue("(NnLiL)", out, kept, (long long)max_ts, tombstones,
                         (long long)max_offset);
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(data, count, keys, max_errors, base_timestamp, max_timestamp, log_append_batch, "
     "create_time, now, before_max, after_max) -> str | tuple: check the records of a batch."},
    {"find_timestamp", find_timestamp, METH_VARARGS,
     "find_timestamp(data, count, base_timestamp, target, exact, min_delta) -> "
     "tuple[int, int] | None: the first record at or after a timestamp."},
    {"map_put", map_put, METH_VARARGS,
     "map_put(table, slots, entries, key, offset) -> entries: put a key in the offset map."},
    {"map_get", map_get, METH_VARARGS,
     "map_get(table, slots, key) -> int: a key's offset in the offset map, or -1."},
    {"map_index", map_index, METH_VARARGS,
     "map_index(table, slots, entries, max_entries, latest, records, count, base_offset, "
     "start_offset, end_offset) -> (entries, latest, read, full): map a batch's keys."},
    {"filter_records", filter_records, METH_VARARGS,
     "filter_records(table, slots, latest, records, count, base_offset, retain_deletes, "
     "base_timestamp, new_base_timestamp) -> (bytes, kept, max_timestamp, tombstones, "
     "max_offset): the records of a batch the cleaner keeps."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "kafkatwist.wire._walk", "The compiled record walker.", -1, methods,
};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }

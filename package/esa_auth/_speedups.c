/*
 * esa_auth._speedups: the reading loop of Normalizer._lines in C (optional).
 *
 * A mail log is two thirds lines that no template reads (MID ..., Message ...)
 * and one third ICID/DCID session lines (catalogue section 5: C1, C2, C4-C8).
 * The pure Python loop (pipeline.Normalizer._lines) skips the former with one
 * regex scan per block and applies the usual forms of the latter to the
 * session table without decoding them. This module does the same walk line by
 * line in C, and hands every other line back to Python:
 *
 *   scan(buf, pos, end, limit, prefix, keys, table, sessions, session_type,
 *        max_sessions, timeout, env)
 *     -> (code, pos, lines, fast, evicted_full, evicted_idle, ahead)
 *
 * It reads the lines of buf[pos:end] (complete lines of a block whose every
 * line opens a log line, as pipeline.all_envelopes() checked; a line ends at
 * its newline, or at one carriage return before it) while each line
 *
 *   - starts with ``prefix`` (the envelope of a line read before, up to its
 *     body) and its body does not start with a space, and
 *   - has a body whose first four bytes, lower-cased, are no dispatch key
 *     (``keys``: the keys of patterns.DISPATCH, four bytes each, concatenated):
 *     the line is skipped, as every reader skips it; or
 *   - has a body in one of the fast forms of pipeline._FAST_FORMS, checked
 *     here by hand and never more loosely than those regular expressions
 *     (a line that is not surely of a form goes back to Python), and is not
 *     the last line of the block (it may be wrapped): the line is applied to
 *     the session table (an OrderedDict, SessionTable._open) exactly as the
 *     Python loop applies it.
 *
 * It stops at the first other line and returns, with ``pos`` at its start:
 *
 *   DONE (0)      every line was read;
 *   LINE (1)      the line needs Python (a new envelope, a dispatch key that
 *                 is no fast form, the block's last line);
 *   LONG (2)      the line is longer than ``limit`` bytes;
 *   ENVELOPE (3)  a fast line needs the time and appliance of ``prefix``,
 *                 which ``env`` does not hold yet (None): Python reads the
 *                 envelope (it may warn, at that line) and calls again.
 *
 * ``env`` is (when, opened, appliance, ahead): the log time of ``prefix``
 * (float or None), the time a session opened on it is first seen at, the
 * appliance of the session keys, and whether the session clock must move to
 * ``when`` at the next session line (SessionTable.advance). ``lines`` and
 * ``fast`` count the lines read and the session lines applied; the evictions
 * made here are returned for the caller to add to the table's counters.
 *
 * tests/test_speedups.py holds this module to the pure Python loop (events,
 * warnings, counters, saved state) on every input the fast-path tests use.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { DONE = 0, LINE = 1, LONG = 2, ENVELOPE = 3 };

/* What a session line does: the verbs of pipeline._FAST_ACTIONS. */
enum { V_NONE = -1, V_OPEN = 0, V_CLOSE, V_VERDICT, V_TLS, V_MID, V_TOUCH };

#define MAX_KEYS 64
#define MAX_DIGITS 18 /* \d{1,18} in the forms: fits in a signed 64-bit integer */

static PyObject *s_seen, *s_raw_open, *s_raw_verdict, *s_raw_tls, *s_mid;
static PyObject *s_move_to_end, *s_popitem, *s_advance, *s_inbound, *s_outbound;

typedef struct {
    int verb;
    int outbound;
    long long number; /* ICID or DCID */
    long long mid;    /* V_MID only */
} Form;

static int
printable(const char *s, const char *e)
{
    for (; s < e; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    }
    return 1;
}

/* A literal at s: returns the byte after it, or NULL. */
static const char *
lit(const char *s, const char *e, const char *text)
{
    Py_ssize_t n = (Py_ssize_t)strlen(text);
    if (e - s < n || memcmp(s, text, (size_t)n) != 0)
        return NULL;
    return s + n;
}

/* 1 to 18 digits at s, not followed by a digit: returns the byte after them, or NULL. */
static const char *
digits(const char *s, const char *e, long long *value)
{
    long long v = 0;
    const char *p = s;
    while (p < e && *p >= '0' && *p <= '9') {
        if (p - s == MAX_DIGITS)
            return NULL; /* longer: the form's regex would not read it this way */
        v = v * 10 + (*p - '0');
        p++;
    }
    if (p == s)
        return NULL;
    *value = v;
    return p;
}

/* A run of one or more printable non-space bytes ([!-~]+): the byte after it, or NULL. */
static const char *
word(const char *s, const char *e)
{
    const char *p = s;
    while (p < e && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
        p++;
    return p == s ? NULL : p;
}

/* The first ``needle`` in [s, e), or NULL. */
static const char *
find(const char *s, const char *e, const char *needle)
{
    Py_ssize_t n = (Py_ssize_t)strlen(needle);
    for (; e - s >= n; s++) {
        if (memcmp(s, needle, (size_t)n) == 0)
            return s;
    }
    return NULL;
}

/*
 * C1: New SMTP ICID (\d{1,18}) interface [ -~]+ address [!-~]+
 *     (?: reverse dns host [ -~]*? verified (?:yes|no))?
 * Accepted when the first " address " after "interface " (with a non-empty
 * text before it) is followed by a word that ends the line, or by the
 * reverse DNS part: the regex then has a match too.
 */
static int
form_c1(const char *p, const char *e, Form *f)
{
    const char *q, *a;
    if (!(p = digits(p, e, &f->number)) || !(p = lit(p, e, " interface ")))
        return 0;
    if (p >= e)
        return 0;
    a = find(p + 1, e, " address "); /* after one byte at least: [ -~]+ */
    if (a == NULL || !(q = word(a + 9, e)))
        return 0;
    if (q != e) {
        static const char rdns[] = " reverse dns host ";
        Py_ssize_t need = (Py_ssize_t)sizeof(rdns) - 1;
        if (!lit(q, e, rdns))
            return 0;
        if (e - q >= need + 13 && memcmp(e - 13, " verified yes", 13) == 0) {
            /* ok */
        } else if (e - q >= need + 12 && memcmp(e - 12, " verified no", 12) == 0) {
            /* ok */
        } else {
            return 0;
        }
    }
    f->verb = V_OPEN;
    f->outbound = 0;
    return 1;
}

/* C7: New SMTP DCID (\d{1,18}) interface [!-~]+ address [!-~]+(?: port \d{1,18})? */
static int
form_c7(const char *p, const char *e, Form *f)
{
    long long port;
    if (!(p = digits(p, e, &f->number)) || !(p = lit(p, e, " interface ")) || !(p = word(p, e)) ||
        !(p = lit(p, e, " address ")) || !(p = word(p, e)))
        return 0;
    if (p != e && (!(p = lit(p, e, " port ")) || !(p = digits(p, e, &port)) || p != e))
        return 0;
    f->verb = V_OPEN;
    f->outbound = 1;
    return 1;
}

/* C4 and C8t after "ICID n " or "DCID n ": TLS success[ -~]*  |  TLS failed[ -~]* */
static int
form_tls(const char *p, const char *e, Form *f)
{
    if (lit(p, e, "TLS success")) {
        f->verb = V_TLS;
        return 1;
    }
    if (lit(p, e, "TLS failed")) {
        f->verb = V_TOUCH;
        return 1;
    }
    return 0;
}

/*
 * After "ICID n " (key "icid"):
 * C2:  (?:ACCEPT|REJECT|TCPREFUSE|RELAY) SG [ -~]*? match(?: [ -~]*)?
 * C4:  TLS success[ -~]*  |  TLS failed[ -~]*
 * C5:  (?:close|lost)
 */
static int
form_icid(const char *p, const char *e, Form *f)
{
    const char *q;
    if (!(p = digits(p, e, &f->number)) || !(p = lit(p, e, " ")))
        return 0;
    f->outbound = 0;
    if (form_tls(p, e, f))
        return 1;
    if ((e - p == 5 && memcmp(p, "close", 5) == 0) || (e - p == 4 && memcmp(p, "lost", 4) == 0)) {
        f->verb = V_CLOSE;
        return 1;
    }
    if (!((q = lit(p, e, "ACCEPT")) || (q = lit(p, e, "REJECT")) || (q = lit(p, e, "TCPREFUSE")) ||
          (q = lit(p, e, "RELAY"))))
        return 0;
    if (!(q = lit(q, e, " SG ")))
        return 0;
    /* " match" then the end of the line or a space, anywhere after "SG ". */
    for (q = find(q, e, " match"); q != NULL; q = find(q + 1, e, " match")) {
        if (q + 6 == e || q[6] == ' ') {
            f->verb = V_VERDICT;
            return 1;
        }
    }
    return 0;
}

/*
 * Key "dcid": C8c  DCID (\d{1,18}) close
 *             C8t  DCID (\d{1,18}) TLS success[ -~]*  |  TLS failed[ -~]*
 * (T10 and T11 write "DCID:", which the digits refuse.)
 */
static int
form_dcid(const char *p, const char *e, Form *f)
{
    if (!(p = digits(p, e, &f->number)) || !(p = lit(p, e, " ")))
        return 0;
    f->outbound = 1;
    if (e - p == 5 && memcmp(p, "close", 5) == 0) {
        f->verb = V_CLOSE;
        return 1;
    }
    return form_tls(p, e, f);
}

/* The fast form of a body [s, e), if any (see pipeline._FAST_FORMS). */
static int
fast_form(const char *s, const char *e, Form *f)
{
    const char *p;
    if (!printable(s, e))
        return 0; /* every form is printable ASCII */
    switch (*s) {
    case 'N':
        if ((p = lit(s, e, "New SMTP ICID ")))
            return form_c1(p, e, f);
        if ((p = lit(s, e, "New SMTP DCID ")))
            return form_c7(p, e, f);
        return 0;
    case 'I':
        if ((p = lit(s, e, "ICID ")))
            return form_icid(p, e, f);
        return 0;
    case 'S':
        /* C6: Start MID (\d{1,18}) ICID (\d{1,18}) */
        if ((p = lit(s, e, "Start MID ")) && (p = digits(p, e, &f->mid)) && (p = lit(p, e, " ICID ")) &&
            (p = digits(p, e, &f->number)) && p == e) {
            f->verb = V_MID;
            f->outbound = 0;
            return 1;
        }
        return 0;
    case 'D':
        /* C8: Delivery start DCID (\d{1,18}) MID (\d{1,18})[ -~]*: a digit right
         * after 18 MID digits goes back to Python (the regex would cut the MID). */
        if ((p = lit(s, e, "Delivery start DCID "))) {
            if ((p = digits(p, e, &f->number)) && (p = lit(p, e, " MID ")) && digits(p, e, &f->mid)) {
                f->verb = V_MID;
                f->outbound = 1;
                return 1;
            }
            return 0;
        }
        if ((p = lit(s, e, "DCID ")))
            return form_dcid(p, e, f);
        return 0;
    default:
        return 0;
    }
}

static int
is_key(const unsigned char *body, const uint32_t *keys, Py_ssize_t nkeys)
{
    unsigned char low[4];
    uint32_t k;
    Py_ssize_t i;
    for (i = 0; i < 4; i++)
        low[i] = (body[i] >= 'A' && body[i] <= 'Z') ? (unsigned char)(body[i] + 32) : body[i];
    memcpy(&k, low, 4);
    for (i = 0; i < nkeys; i++) {
        if (keys[i] == k)
            return 1;
    }
    return 0;
}

/* Apply a session line to the table, as pipeline.Normalizer._lines does. 0 on success, -1 on error. */
static int
apply(const Form *f, PyObject *table, PyObject *move_to_end, PyObject *sessions, PyObject *session_type, Py_ssize_t max_sessions,
      double timeout, PyObject *when, PyObject *opened, PyObject *appliance, int *ahead, const char *body,
      Py_ssize_t body_len, Py_ssize_t *evicted_full, Py_ssize_t *evicted_idle)
{
    PyObject *number, *key, *found, *value, *result;
    int timed = when != Py_None;
    double now = timed ? PyFloat_AsDouble(when) : 0.0;
    int rc = -1;

    if (timed && now == -1.0 && PyErr_Occurred())
        return -1;
    number = PyLong_FromLongLong(f->number);
    if (number == NULL)
        return -1;
    key = PyTuple_Pack(3, appliance, f->outbound ? s_outbound : s_inbound, number);
    Py_DECREF(number);
    if (key == NULL)
        return -1;

    found = PyDict_GetItemWithError(table, key); /* borrowed; an OrderedDict is a dict */
    if (found == NULL && PyErr_Occurred())
        goto done;

    if (f->verb == V_CLOSE) {
        if (found != NULL && PyObject_DelItem(table, key) < 0)
            goto done;
        rc = 0;
        goto done;
    }
    if (f->verb == V_OPEN) {
        PyObject *session;
        if (found != NULL && PyObject_DelItem(table, key) < 0)
            goto done;
        /* Session(when, opened), as the Python loop makes it: through the dataclass
         * __init__, which sets every field in order, so that CPython shares the keys
         * of all sessions' attribute dicts (a session made otherwise takes more memory). */
        session = PyObject_CallFunctionObjArgs(session_type, when, opened, NULL);
        if (session == NULL)
            goto done;
        value = PyBytes_FromStringAndSize(body, body_len);
        if (value == NULL || PyObject_SetAttr(session, s_raw_open, value) < 0 ||
            PyObject_SetItem(table, key, session) < 0) {
            Py_XDECREF(value);
            Py_DECREF(session);
            goto done;
        }
        Py_DECREF(value);
        Py_DECREF(session);
        if (*ahead) {
            result = PyObject_CallMethodObjArgs(sessions, s_advance, when, NULL);
            if (result == NULL)
                goto done;
            Py_DECREF(result);
            *ahead = 0;
        }
        if (PyDict_Size(table) > max_sessions) {
            result = PyObject_CallMethodObjArgs(table, s_popitem, Py_False, NULL);
            if (result == NULL)
                goto done;
            Py_DECREF(result);
            (*evicted_full)++;
        }
        rc = 0;
        goto done;
    }
    if (found != NULL) {
        int idle = 0, later = 0;
        Py_INCREF(found);
        if (timed) {
            double seen;
            value = PyObject_GetAttr(found, s_seen);
            if (value == NULL) {
                Py_DECREF(found);
                goto done;
            }
            seen = PyFloat_AsDouble(value);
            Py_DECREF(value);
            if (seen == -1.0 && PyErr_Occurred()) {
                Py_DECREF(found);
                goto done;
            }
            idle = now - seen > timeout;
            later = now > seen;
        }
        if (idle) {
            /* Idle longer than the timeout: not that session's line. */
            if (PyObject_DelItem(table, key) < 0) {
                Py_DECREF(found);
                goto done;
            }
            (*evicted_idle)++;
        } else {
            int failed = 0;
            if (later && PyObject_SetAttr(found, s_seen, when) < 0)
                failed = 1;
            if (!failed) {
                result = PyObject_CallOneArg(move_to_end, key);
                if (result == NULL)
                    failed = 1;
                else
                    Py_DECREF(result);
            }
            if (!failed && (f->verb == V_VERDICT || f->verb == V_TLS)) {
                value = PyBytes_FromStringAndSize(body, body_len);
                if (value == NULL ||
                    PyObject_SetAttr(found, f->verb == V_VERDICT ? s_raw_verdict : s_raw_tls, value) < 0)
                    failed = 1;
                Py_XDECREF(value);
            } else if (!failed && f->verb == V_MID) {
                value = PyLong_FromLongLong(f->mid);
                if (value == NULL || PyObject_SetAttr(found, s_mid, value) < 0)
                    failed = 1;
                Py_XDECREF(value);
            }
            if (failed) {
                Py_DECREF(found);
                goto done;
            }
        }
        Py_DECREF(found);
    }
    if (*ahead) {
        result = PyObject_CallMethodObjArgs(sessions, s_advance, when, NULL);
        if (result == NULL)
            goto done;
        Py_DECREF(result);
        *ahead = 0;
    }
    rc = 0;
done:
    Py_DECREF(key);
    return rc;
}

static PyObject *
scan(PyObject *module, PyObject *args)
{
    PyObject *buf, *prefix, *keys_obj, *table, *sessions, *session_type, *env;
    Py_ssize_t pos, end, limit, max_sessions;
    double timeout;
    PyObject *when = NULL, *opened = NULL, *appliance = NULL, *move_to_end = NULL; /* table.move_to_end, bound once */
    int ahead = 0, code = DONE;
    uint32_t keys[MAX_KEYS];
    Py_ssize_t nkeys, size, lines = 0, fast = 0, evicted_full = 0, evicted_idle = 0;
    const char *b, *pfx;

    (void)module;
    if (!PyArg_ParseTuple(args, "SnnnSSO!OOndO:scan", &buf, &pos, &end, &limit, &prefix, &keys_obj,
                          &PyDict_Type, &table, &sessions, &session_type, &max_sessions, &timeout, &env))
        return NULL;
    if (pos < 0 || end > PyBytes_GET_SIZE(buf) || pos > end) {
        PyErr_SetString(PyExc_ValueError, "scan: positions out of the buffer");
        return NULL;
    }
    if (end > 0 && PyBytes_AS_STRING(buf)[end - 1] != '\n') {
        PyErr_SetString(PyExc_ValueError, "scan: the block must end with a newline");
        return NULL;
    }
    nkeys = PyBytes_GET_SIZE(keys_obj) / 4;
    if (nkeys > MAX_KEYS || PyBytes_GET_SIZE(keys_obj) % 4) {
        PyErr_SetString(PyExc_ValueError, "scan: keys must be at most 64 keys of four bytes");
        return NULL;
    }
    memcpy(keys, PyBytes_AS_STRING(keys_obj), (size_t)nkeys * 4);
    if (!PyType_Check(session_type)) {
        PyErr_SetString(PyExc_TypeError, "scan: session_type must be a class");
        return NULL;
    }
    if (env != Py_None) {
        if (!PyTuple_Check(env)) {
            PyErr_SetString(PyExc_TypeError, "scan: env must be a tuple or None");
            return NULL;
        }
        if (!PyArg_ParseTuple(env, "OOUp:scan env", &when, &opened, &appliance, &ahead))
            return NULL;
        if (when != Py_None && !PyFloat_Check(when)) {
            PyErr_SetString(PyExc_TypeError, "scan: the envelope time must be a float or None");
            return NULL;
        }
    }

    b = PyBytes_AS_STRING(buf);
    pfx = PyBytes_AS_STRING(prefix);
    size = PyBytes_GET_SIZE(prefix);
    while (pos < end) {
        const char *line = b + pos;
        const char *nl = memchr(line, '\n', (size_t)(end - pos));
        Py_ssize_t length = nl - line; /* the block ends with a newline: nl is found */
        const char *body, *content;
        Form form;

        if (length > limit) {
            code = LONG;
            break;
        }
        /* The body right after the known envelope, unless more spaces follow (envelope.body_start). */
        if (size == 0 || length < size || memcmp(line, pfx, (size_t)size) != 0 ||
            (length > size && line[size] == ' ')) {
            code = LINE;
            break;
        }
        body = line + size;
        /* A line ends before its newline, and before one carriage return (CRLF files). */
        content = (length > size && line[length - 1] == '\r') ? nl - 1 : nl;
        if (content - body < 4 || !is_key((const unsigned char *)body, keys, nkeys)) {
            lines++; /* no template starts this way: skipped */
            pos += length + 1;
            continue;
        }
        if (pos + length + 1 >= end || !fast_form(body, content, &form)) {
            code = LINE; /* the last line of the block may be wrapped; others need a template */
            break;
        }
        if (env == Py_None) {
            /* Reading the envelope may warn: the full way warns first about the
             * cut of a next line over the limit (it finishes a line at the next
             * one), so such a line goes to Python. */
            const char *after = nl + 1;
            const char *next = memchr(after, '\n', (size_t)(b + end - after));
            code = (next - after > limit) ? LINE : ENVELOPE;
            break;
        }
        if (move_to_end == NULL && (move_to_end = PyObject_GetAttr(table, s_move_to_end)) == NULL)
            return NULL;
        if (apply(&form, table, move_to_end, sessions, session_type, max_sessions, timeout, when, opened, appliance, &ahead,
                  body, content - body, &evicted_full, &evicted_idle) < 0) {
            Py_DECREF(move_to_end);
            return NULL;
        }
        lines++;
        fast++;
        pos += length + 1;
    }
    Py_XDECREF(move_to_end);
    return Py_BuildValue("innnnni", code, pos, lines, fast, evicted_full, evicted_idle, ahead);
}

/* fast_form(body) -> (verb, outbound, number, mid) or None: the form this
 * module reads a body as (mid is -1 unless the verb is V_MID). For tests. */
static PyObject *
py_fast_form(PyObject *module, PyObject *arg)
{
    Form form;
    const char *body;
    (void)module;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "fast_form: bytes expected");
        return NULL;
    }
    body = PyBytes_AS_STRING(arg);
    form.mid = -1;
    if (PyBytes_GET_SIZE(arg) == 0 || !fast_form(body, body + PyBytes_GET_SIZE(arg), &form))
        Py_RETURN_NONE;
    return Py_BuildValue("iiLL", form.verb, form.outbound, form.number, form.verb == V_MID ? form.mid : -1LL);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Read the lines of a block up to the first one that needs Python."},
    {"fast_form", py_fast_form, METH_O, "The fast form of a line body: (verb, outbound, number, mid) or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_speedups", "The reading loop of Normalizer._lines in C (optional).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *module;
    if (!(s_seen = PyUnicode_InternFromString("seen")) || !(s_raw_open = PyUnicode_InternFromString("raw_open")) ||
        !(s_raw_verdict = PyUnicode_InternFromString("raw_verdict")) ||
        !(s_raw_tls = PyUnicode_InternFromString("raw_tls")) || !(s_mid = PyUnicode_InternFromString("mid")) ||
        !(s_move_to_end = PyUnicode_InternFromString("move_to_end")) ||
        !(s_popitem = PyUnicode_InternFromString("popitem")) ||
        !(s_advance = PyUnicode_InternFromString("advance")) || !(s_inbound = PyUnicode_InternFromString("i")) ||
        !(s_outbound = PyUnicode_InternFromString("d")))
        return NULL;
    module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    if (PyModule_AddIntConstant(module, "DONE", DONE) < 0 || PyModule_AddIntConstant(module, "LINE", LINE) < 0 ||
        PyModule_AddIntConstant(module, "LONG", LONG) < 0 ||
        PyModule_AddIntConstant(module, "ENVELOPE", ENVELOPE) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

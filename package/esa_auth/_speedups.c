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
 *        max_sessions, timeout, env[, ctx])
 *     -> (code, pos, lines, fast, evicted_full, evicted_idle, ahead, events)
 *
 * It reads the lines of buf[pos:end] (complete lines of a block whose every
 * line opens a log line, as all_envelopes() below checked; a line ends at
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
 *     Python loop applies it; or
 *   - given ``ctx`` (Normalizer.feed_text, for the command line), has a body
 *     in the usual form of the authentication templates T1, T2 or T10, and a
 *     next line within ``limit``: its event is made here, as
 *     Normalizer._event makes it, and its CIM JSON text appended to ctx's
 *     list (see "Events" below); ``events`` counts them.
 *
 * It stops at the first other line and returns, with ``pos`` at its start:
 *
 *   DONE (0)      every line was read;
 *   LINE (1)      the line needs Python (a new envelope, a dispatch key that
 *                 is no fast form, the block's last line, an event that holds
 *                 anything the event path leaves to Python);
 *   LONG (2)      the line is longer than ``limit`` bytes;
 *   ENVELOPE (3)  a fast line needs the time and appliance of ``prefix``,
 *                 which ``env`` does not hold yet (None): Python reads the
 *                 envelope (it may warn, at that line) and calls again.
 *
 * ``env`` is (when, opened, appliance, ahead[, dvc, serial, version]): the
 * log time of ``prefix`` (float or None), the time a session opened on it is
 * first seen at, the appliance of the session keys, whether the session clock
 * must move to ``when`` at the next session line (SessionTable.advance), and,
 * with ``ctx``, the event fields of the envelope and the stream. ``lines`` and
 * ``fast`` count the lines read and the session lines applied; the evictions
 * made here are returned for the caller to add to the table's counters.
 *
 * tests/test_speedups.py and tests/test_fast_path.py hold this module to the
 * pure Python loop (events, their text, warnings, counters, saved state) on
 * every input the fast-path tests use; fuzz/harness.py does on fuzzed input.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
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

/* Whether [s, e) is printable ASCII (0x20-0x7e), eight bytes at a time where it can. */
static int
printable(const char *s, const char *e)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (; e - s >= 8; s += 8) {
        uint64_t x;
        memcpy(&x, s, 8);
        /* A byte under 0x20 (x - 0x20 borrows into its high bit), or over 0x7e (x + 1 reaches 0x80). */
        if ((((x - 0x20 * ones) & ~x) | ((x + ones) | x)) & highs)
            return 0;
    }
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

/* --- Events (the command line's CIM output) ---------------------------------
 *
 * Given ``ctx``, the scan also reads the usual forms of the authentication
 * templates T1, T2 (inbound SMTP AUTH) and T10 (outbound success): it makes
 * the event as pipeline.Normalizer._event does (the session found and
 * touched as SessionTable.get does, its kept lines read by ctx's resolve)
 * and appends its CIM JSON text, as the command line writes it (json.dumps of
 * AuthEvent.to_dict(), ensure_ascii off, no spaces), to ctx's list. A line
 * whose event holds anything else (text that is not ASCII, an unexpected
 * type) goes back to Python, which makes that event the full way. */

enum { E_T1 = 0, E_T2, E_T10, N_TEMPLATES };

typedef struct {
    int template;
    long long number; /* ICID or DCID */
    const char *user, *user_end, *mech, *mech_end, *profile, *profile_end, *ip, *ip_end;
} EventForm;

/*
 * T1, T2 (key "smtp": T1 is its first template, and a body of the T2 form
 * has "failed" where T1 wants "succeeded"):
 *   SMTP Auth: \(ICID (\d{1,18})\) (?:succeeded|failed) for user: ([!-~]+)
 *   using AUTH mechanism: ([!-~]+) with profile: ([!-~](?:[ -~]*[!-~])?)
 * The template's lazy user group ends at the first space that
 * " +using +AUTH +mechanism:" follows: for a user of one word, at its end. Its
 * profile is the rest but trailing spaces, and the form has none.
 * T10 (key "dcid": its first template):
 *   DCID: (\d{1,18}) IP: ([!-~]+) SMTP authentication using the profile ([!-~]+) succeeded\.
 * The lazy profile group ends at the first space " +succeeded" follows: for a
 * profile of one word, at its end.
 */
static int
event_form(const char *s, const char *e, EventForm *f)
{
    const char *p;
    memset(f, 0, sizeof(*f));
    if (!printable(s, e))
        return 0;
    if ((p = lit(s, e, "SMTP Auth: (ICID "))) {
        if (!(p = digits(p, e, &f->number)) || !(p = lit(p, e, ") ")))
            return 0;
        if ((f->user = lit(p, e, "succeeded for user: ")))
            f->template = E_T1;
        else if ((f->user = lit(p, e, "failed for user: ")))
            f->template = E_T2;
        else
            return 0;
        if (!(f->user_end = word(f->user, e)) || !(f->mech = lit(f->user_end, e, " using AUTH mechanism: ")) ||
            !(f->mech_end = word(f->mech, e)) || !(f->profile = lit(f->mech_end, e, " with profile: ")))
            return 0;
        f->profile_end = e;
        /* Printable already: not empty, and no space at either end. */
        return f->profile < e && f->profile[0] != ' ' && e[-1] != ' ';
    }
    if ((p = lit(s, e, "DCID: "))) {
        if (!(p = digits(p, e, &f->number)) || !(f->ip = lit(p, e, " IP: ")) || !(f->ip_end = word(f->ip, e)) ||
            !(f->profile = lit(f->ip_end, e, " SMTP authentication using the profile ")) ||
            !(f->profile_end = word(f->profile, e)) || !(p = lit(f->profile_end, e, " succeeded.")) || p != e)
            return 0;
        f->template = E_T10;
        return 1;
    }
    return 0;
}

/* The fields of an event, in events.FIELD_ORDER (scan() checks them against it). */
static const char *const FIELDS[] = {
    "time", "action", "activity", "app", "direction", "user",
    "src", "src_ip", "src_host", "dest", "dest_ip", "dest_host", "dest_port",
    "dvc", "dvc_serial", "authentication_method", "authentication_service",
    "session_id", "icid", "dcid", "reason", "reply_code", "enhanced_status",
    "signature", "signature_id", "listener", "sender_group", "sbrs",
    "tls", "tls_protocol", "tls_cipher", "mid",
    "cleartext", "privileged", "default_account", "user_role",
    "vendor", "vendor_product", "product_version", "raw", "event_id",
};
enum {
    F_TIME, F_ACTION, F_ACTIVITY, F_APP, F_DIRECTION, F_USER,
    F_SRC, F_SRC_IP, F_SRC_HOST, F_DEST, F_DEST_IP, F_DEST_HOST, F_DEST_PORT,
    F_DVC, F_DVC_SERIAL, F_METHOD, F_SERVICE,
    F_SESSION_ID, F_ICID, F_DCID, F_REASON, F_REPLY_CODE, F_ENHANCED_STATUS,
    F_SIGNATURE, F_SIGNATURE_ID, F_LISTENER, F_SENDER_GROUP, F_SBRS,
    F_TLS, F_TLS_PROTOCOL, F_TLS_CIPHER, F_MID,
    F_CLEARTEXT, F_PRIVILEGED, F_DEFAULT_ACCOUNT, F_USER_ROLE,
    F_VENDOR, F_VENDOR_PRODUCT, F_PRODUCT_VERSION, F_RAW, F_EVENT_ID, N_FIELDS
};

/* What a template gives its events (patterns.LinePattern), in this order. */
#define N_INFO 7
static const int INFO_FIELDS[N_INFO] = {F_ACTION, F_ACTIVITY, F_APP, F_DIRECTION, F_SIGNATURE, F_SIGNATURE_ID, F_REASON};

/* What the scan needs to write events (from ctx, see scan()); borrowed references. */
typedef struct {
    PyObject *out;       /* the list the event texts are appended to */
    PyObject *key;       /* bytes: Stream.key as UTF-8 (errors replaced) */
    Py_ssize_t offset;   /* source offset of buf[0] */
    PyObject *digest;    /* bytes -> hash object with hexdigest(): blake2b of 16 bytes */
    PyObject *is_ip;     /* text.is_ip */
    PyObject *resolve;   /* Normalizer._resolve */
    PyObject *time;      /* Normalizer._time: epoch -> RFC 3339 text */
    PyObject *cleartext; /* CLEARTEXT_MECHANISMS */
    PyObject *vendor, *product;
    PyObject *info[N_TEMPLATES][N_INFO];
} EventContext;

/* A growing text (bytes). */
typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Text;

static int
put(Text *t, const char *s, Py_ssize_t n)
{
    if (n == 0)
        return 0; /* nothing to copy, and the text may have no buffer yet */
    if (n > t->cap - t->len) {
        Py_ssize_t cap = t->cap ? t->cap : 1024;
        char *data;
        while (cap - t->len < n) {
            if (cap > PY_SSIZE_T_MAX / 2) {
                PyErr_NoMemory();
                return -1;
            }
            cap *= 2;
        }
        data = PyMem_Realloc(t->data, (size_t)cap);
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        t->data = data;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, (size_t)n);
    t->len += n;
    return 0;
}

static int
puts_(Text *t, const char *s)
{
    return put(t, s, (Py_ssize_t)strlen(s));
}

/* Whether any of eight bytes is under 0x20, a quote or a backslash (what JSON escapes in ASCII text). */
static int
needs_escape(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = x ^ (0x22 * ones), backslash = x ^ (0x5c * ones);
    return ((((x - 0x20 * ones) & ~x) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) & highs) != 0;
}

/* ASCII text as a JSON string, escaped as json.dumps escapes it. */
static int
put_json_ascii(Text *t, const char *s, Py_ssize_t n)
{
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t i = 0, run = 0;
    if (put(t, "\"", 1) < 0)
        return -1;
    while (i < n) {
        unsigned char c;
        char esc[6];
        Py_ssize_t k = 2;
        if (n - i >= 8) {
            uint64_t x;
            memcpy(&x, s + i, 8);
            if (!needs_escape(x)) {
                i += 8; /* nothing to escape in these eight: they go out with the run */
                continue;
            }
        }
        c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (put(t, s + run, i - run) < 0)
            return -1;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        }
        if (put(t, esc, k) < 0)
            return -1;
        run = ++i;
    }
    if (put(t, s + run, n - run) < 0 || put(t, "\"", 1) < 0)
        return -1;
    return 0;
}

/* A value as json.dumps writes it: 1 written, 0 a value left to Python, -1 an error. */
static int
put_json(Text *t, PyObject *v)
{
    PyObject *text;
    int rc;
    if (v == Py_True)
        return put(t, "true", 4) < 0 ? -1 : 1;
    if (v == Py_False)
        return put(t, "false", 5) < 0 ? -1 : 1;
    if (PyUnicode_CheckExact(v)) {
        if (!PyUnicode_IS_ASCII(v))
            return 0;
        return put_json_ascii(t, (const char *)PyUnicode_DATA(v), PyUnicode_GET_LENGTH(v)) < 0 ? -1 : 1;
    }
    if (PyLong_CheckExact(v))
        text = PyObject_Str(v);
    else if (PyFloat_CheckExact(v) && isfinite(PyFloat_AS_DOUBLE(v)))
        text = PyObject_Repr(v); /* what json writes for a float */
    else
        return 0;
    if (text == NULL)
        return -1;
    rc = put(t, (const char *)PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)) < 0 ? -1 : 1;
    Py_DECREF(text);
    return rc;
}

/* A session attribute, None as NULL: 0 with *out a new reference or NULL, -1 on an error. */
static int
attr(PyObject *session, PyObject *name, PyObject **out)
{
    PyObject *v = PyObject_GetAttr(session, name);
    *out = NULL;
    if (v == NULL)
        return -1;
    if (v == Py_None)
        Py_DECREF(v);
    else
        *out = v;
    return 0;
}

/* A dotted-quad IPv4 address as text.is_ip's _IPV4 reads it: four decimal octets 0-255, no leading zeros. */
static int
dotted_quad(PyObject *value)
{
    const char *s, *e;
    int octet;
    if (!PyUnicode_CheckExact(value) || !PyUnicode_IS_ASCII(value))
        return 0;
    s = (const char *)PyUnicode_DATA(value);
    e = s + PyUnicode_GET_LENGTH(value);
    for (octet = 0; octet < 4; octet++) {
        const char *p = s;
        int v = 0;
        while (p < e && p - s < 3 && *p >= '0' && *p <= '9')
            v = v * 10 + (*p++ - '0');
        if (p == s || v > 255 || (p - s > 1 && *s == '0'))
            return 0;
        if (octet < 3) {
            if (p == e || *p != '.')
                return 0;
            p++;
        }
        s = p;
    }
    return s == e;
}

/* ``value if value and is_ip(value) else None``: 0 with *out set (new reference or NULL), -1 on an error. */
static int
ip_of(const EventContext *c, PyObject *value, PyObject **out)
{
    PyObject *yes;
    int ok;
    *out = NULL;
    if (value == NULL)
        return 0;
    if (dotted_quad(value)) {
        Py_INCREF(value);
        *out = value;
        return 0;
    }
    ok = PyObject_IsTrue(value);
    if (ok <= 0)
        return ok;
    yes = PyObject_CallOneArg(c->is_ip, value);
    if (yes == NULL)
        return -1;
    ok = PyObject_IsTrue(yes);
    Py_DECREF(yes);
    if (ok < 0)
        return -1;
    if (ok) {
        Py_INCREF(value);
        *out = value;
    }
    return 0;
}

static PyObject *s_client_ip, *s_client_host, *s_listener, *s_listener_ip, *s_sender_group, *s_sbrs, *s_tls,
    *s_tls_protocol, *s_tls_cipher, *s_local_ip, *s_remote_ip, *s_remote_port, *s_hexdigest;

/* The session's fields an event takes (Normalizer._event). 0, or -1 on an error. */
static int
session_fields(const EventContext *c, const EventForm *f, PyObject *session, PyObject **v)
{
    PyObject *tls;
    if (f->template == E_T10) {
        return attr(session, s_local_ip, &v[F_SRC]) < 0 || ip_of(c, v[F_SRC], &v[F_SRC_IP]) < 0 ||
                       attr(session, s_remote_port, &v[F_DEST_PORT]) < 0 || attr(session, s_tls, &v[F_TLS]) < 0 ||
                       attr(session, s_tls_protocol, &v[F_TLS_PROTOCOL]) < 0 ||
                       attr(session, s_tls_cipher, &v[F_TLS_CIPHER]) < 0 || attr(session, s_mid, &v[F_MID]) < 0
                   ? -1
                   : 0;
    }
    if (attr(session, s_client_ip, &v[F_SRC]) < 0 || ip_of(c, v[F_SRC], &v[F_SRC_IP]) < 0 ||
        attr(session, s_client_host, &v[F_SRC_HOST]) < 0 || attr(session, s_listener_ip, &v[F_DEST]) < 0 ||
        ip_of(c, v[F_DEST], &v[F_DEST_IP]) < 0 || attr(session, s_listener, &v[F_LISTENER]) < 0 ||
        attr(session, s_sender_group, &v[F_SENDER_GROUP]) < 0 || attr(session, s_sbrs, &v[F_SBRS]) < 0 ||
        attr(session, s_tls, &v[F_TLS]) < 0 || attr(session, s_tls_protocol, &v[F_TLS_PROTOCOL]) < 0 ||
        attr(session, s_tls_cipher, &v[F_TLS_CIPHER]) < 0 || attr(session, s_mid, &v[F_MID]) < 0)
        return -1;
    if (v[F_SBRS] != NULL) {
        /* float(session.sbrs), kept only within [-10, 10] */
        PyObject *score = PyFloat_FromString(v[F_SBRS]);
        double d;
        Py_SETREF(v[F_SBRS], score);
        if (score == NULL)
            return -1;
        d = PyFloat_AS_DOUBLE(score);
        if (!(d >= -10.0 && d <= 10.0))
            Py_CLEAR(v[F_SBRS]);
    }
    {
        /* mechanism.upper() in CLEARTEXT_MECHANISMS and not session.tls (the mechanism is one ASCII word) */
        char up[64];
        Py_ssize_t k, n = PyUnicode_GET_LENGTH(v[F_METHOD]);
        const char *m = (const char *)PyUnicode_DATA(v[F_METHOD]);
        PyObject *upper;
        int in, tls_on;
        if (n <= (Py_ssize_t)sizeof(up)) {
            for (k = 0; k < n; k++)
                up[k] = (m[k] >= 'a' && m[k] <= 'z') ? (char)(m[k] - 32) : m[k];
            upper = PyUnicode_DecodeASCII(up, n, "strict");
        } else {
            upper = PyObject_CallMethod(v[F_METHOD], "upper", NULL);
        }
        if (upper == NULL)
            return -1;
        in = PySet_Contains(c->cleartext, upper);
        Py_DECREF(upper);
        if (in < 0)
            return -1;
        tls = v[F_TLS] != NULL ? v[F_TLS] : Py_None;
        tls_on = in ? PyObject_IsTrue(tls) : 0;
        if (tls_on < 0)
            return -1;
        v[F_CLEARTEXT] = PyBool_FromLong(in && !tls_on);
    }
    return 0;
}

/*
 * Append the event of a line of an event form to c->out, given its session
 * (or NULL) and the envelope's time text, dvc, serial and version (None or
 * str). ``raw`` is the line without its line end, ``offset`` where it starts
 * in the source. Returns 1 when written, 0 when the event is left to Python,
 * -1 on an error.
 */
static int
write_event(const EventContext *c, const EventForm *f, PyObject *session, PyObject *time_text, PyObject *dvc,
            PyObject *serial, PyObject *version, const char *raw, Py_ssize_t raw_len, Py_ssize_t offset)
{
    PyObject *v[N_FIELDS] = {NULL};
    PyObject *data = NULL, *hash = NULL, *text;
    Text t = {NULL, 0, 0};
    char number[32];
    int i, rc = -1, written, dvc_set;
    int inbound = f->template != E_T10;

    for (i = 0; i < N_INFO; i++) {
        /* As _event sets them: the direction and the reason only when not empty, the others as they are. */
        PyObject *value = c->info[f->template][i];
        int set = INFO_FIELDS[i] == F_DIRECTION || INFO_FIELDS[i] == F_REASON ? PyObject_IsTrue(value)
                                                                            : value != Py_None;
        if (set < 0)
            goto done;
        if (set) {
            Py_INCREF(value);
            v[INFO_FIELDS[i]] = value;
        }
    }
    if (time_text != Py_None) {
        Py_INCREF(time_text);
        v[F_TIME] = time_text;
    }
    if (dvc != Py_None) {
        Py_INCREF(dvc);
        v[F_DVC] = dvc;
    }
    if (serial != Py_None) {
        Py_INCREF(serial);
        v[F_DVC_SERIAL] = serial;
    }
    if (version != Py_None) {
        Py_INCREF(version);
        v[F_PRODUCT_VERSION] = version;
    }
    Py_INCREF(c->vendor);
    v[F_VENDOR] = c->vendor;
    Py_INCREF(c->product);
    v[F_VENDOR_PRODUCT] = c->product;
    if (!(v[F_RAW] = PyUnicode_DecodeASCII(raw, raw_len, "strict")) ||
        !(v[F_SERVICE] = PyUnicode_DecodeASCII(f->profile, f->profile_end - f->profile, "strict")) ||
        !(v[inbound ? F_ICID : F_DCID] = PyLong_FromLongLong(f->number)) ||
        !(v[F_SESSION_ID] = PyObject_Str(v[inbound ? F_ICID : F_DCID])))
        goto done;
    if (inbound) {
        /* A user logged as "-" is no user. */
        if (!(f->user_end - f->user == 1 && f->user[0] == '-') &&
            !(v[F_USER] = PyUnicode_DecodeASCII(f->user, f->user_end - f->user, "strict")))
            goto done;
        if (!(v[F_METHOD] = PyUnicode_DecodeASCII(f->mech, f->mech_end - f->mech, "strict")))
            goto done;
    } else if (!(v[F_DEST] = PyUnicode_DecodeASCII(f->ip, f->ip_end - f->ip, "strict")) ||
               ip_of(c, v[F_DEST], &v[F_DEST_IP]) < 0) {
        goto done;
    }
    if (session != NULL && session_fields(c, f, session, v) < 0)
        goto done;
    /* The appliance stands for the side the session does not name. */
    dvc_set = PyObject_IsTrue(dvc);
    if (dvc_set < 0)
        goto done;
    if (dvc_set && v[inbound ? F_DEST : F_SRC] == NULL) {
        Py_INCREF(dvc);
        v[inbound ? F_DEST : F_SRC] = dvc;
    }
    /* event_id: blake2b of "{key}\0{offset}\0{raw}", as UTF-8 (raw is ASCII). */
    {
        /* The offset in decimal (it is never negative). */
        char *p = number + sizeof(number);
        Py_ssize_t rest = offset;
        do {
            *--p = (char)('0' + rest % 10);
            rest /= 10;
        } while (rest > 0);
        if (put(&t, PyBytes_AS_STRING(c->key), PyBytes_GET_SIZE(c->key)) < 0 || put(&t, "", 1) < 0 ||
            put(&t, p, number + sizeof(number) - p) < 0 || put(&t, "", 1) < 0 || put(&t, raw, raw_len) < 0)
            goto done;
    }
    if (!(data = PyBytes_FromStringAndSize(t.data, t.len)) || !(hash = PyObject_CallOneArg(c->digest, data)) ||
        !(v[F_EVENT_ID] = PyObject_CallMethodNoArgs(hash, s_hexdigest)))
        goto done;
    t.len = 0;
    for (i = 0; i < N_FIELDS; i++) {
        if (v[i] == NULL)
            continue;
        if (put(&t, t.len ? ",\"" : "{\"", 2) < 0 || puts_(&t, FIELDS[i]) < 0 || put(&t, "\":", 2) < 0)
            goto done;
        written = put_json(&t, v[i]);
        if (written <= 0) {
            rc = written;
            goto done;
        }
    }
    if (put(&t, "}", 1) < 0 || !(text = PyUnicode_DecodeASCII(t.data, t.len, "strict")))
        goto done;
    rc = PyList_Append(c->out, text) < 0 ? -1 : 1;
    Py_DECREF(text);
done:
    for (i = 0; i < N_FIELDS; i++)
        Py_XDECREF(v[i]);
    Py_XDECREF(data);
    Py_XDECREF(hash);
    PyMem_Free(t.data);
    return rc;
}

static int
is_key(const unsigned char *body, const uint32_t *keys, Py_ssize_t nkeys, const unsigned char *heads)
{
    unsigned char low[4];
    uint32_t k;
    Py_ssize_t i;
    if (!heads[body[0]])
        return 0; /* no key starts with this byte, in any case (most lines of a mail log) */
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
      Py_ssize_t body_len, Py_ssize_t *evicted_full, Py_ssize_t *evicted_idle, PyObject **touched)
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
            if (touched != NULL) {
                Py_INCREF(found);
                *touched = found;
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

/* --- Kept session lines (Session.raw_*), read for an event -------------------
 *
 * A session keeps the bodies of its open, verdict and TLS lines unread
 * (pipeline._FAST_FORMS); Normalizer._resolve reads them with their templates
 * (C1, C7, C2, C4, C8t) when an event needs the session. The event path above
 * reads here the bodies it surely reads alike: words parted by one space,
 * each template's fixed words as AsyncOS writes them, and the parts that the
 * templates read lazily cut where the regular expression cuts them (see each
 * parser). Any other body goes to Normalizer._resolve, for the whole session.
 * tests/test_speedups.py holds each parser to its template on generated bodies. */

#define MAX_WORDS 64

typedef struct {
    const char *s;
    Py_ssize_t n;
} Word;

/* Split [s, e) at single spaces: the number of words, or -1 when a word is empty
 * (two spaces, a space at an end) or there are more than MAX_WORDS. */
static int
split_words(const char *s, const char *e, Word *w)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *q = memchr(p, ' ', (size_t)(e - p));
        if (q == NULL)
            q = e;
        if (q == p || n == MAX_WORDS)
            return -1;
        w[n].s = p;
        w[n].n = q - p;
        n++;
        if (q == e)
            return n;
        p = q + 1;
    }
}

static int
word_is(const Word *w, const char *text)
{
    return w->n == (Py_ssize_t)strlen(text) && memcmp(w->s, text, (size_t)w->n) == 0;
}

/* The same word in any case (the templates' fixed words are case-insensitive). */
static int
word_is_ci(const Word *w, const char *text)
{
    Py_ssize_t i;
    if (w->n != (Py_ssize_t)strlen(text))
        return 0;
    for (i = 0; i < w->n; i++) {
        char c = w->s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != text[i])
            return 0;
    }
    return 1;
}

/* Append (name, value) to a list of session fields; the value is stolen. 0, or -1 on an error. */
static int
add_field(PyObject *out, PyObject *name, PyObject *value)
{
    PyObject *pair;
    int rc;
    if (value == NULL)
        return -1;
    pair = PyTuple_Pack(2, name, value);
    Py_DECREF(value);
    if (pair == NULL)
        return -1;
    rc = PyList_Append(out, pair);
    Py_DECREF(pair);
    return rc;
}

static PyObject *
word_text(const Word *w)
{
    return PyUnicode_DecodeASCII(w->s, w->n, "strict");
}

/* Words [w, w + n) joined by one space (as they stand in the body). */
static PyObject *
words_text(const Word *w, int n)
{
    return PyUnicode_DecodeASCII(w[0].s, w[n - 1].s + w[n - 1].n - w[0].s, "strict");
}

/*
 * C1: New SMTP ICID n interface L [(ip)] address A [reverse dns host H verified yes|no]
 * The template's listener is lazy (.+?): it ends at the first space where the
 * rest of the template matches. For a one-word L that is the end of L (within
 * L no space follows), and the rest matches as written here exactly when the
 * words are these; the (ip) group is greedy and wants no parentheses or spaces
 * inside. The lazy reverse DNS name ends at the first " verified": for a
 * one-word H, at its end.
 */
static int
kept_c1(const Word *w, int n, PyObject *out)
{
    int i = 6, verified;
    Py_ssize_t k;
    const Word *ip = NULL, *host = NULL;
    if (n < 8 || !word_is(&w[4], "interface"))
        return 0;
    if (w[6].s[0] == '(') {
        if (w[6].n < 2 || w[6].s[w[6].n - 1] != ')')
            return 0;
        for (k = 1; k < w[6].n - 1; k++) {
            if (w[6].s[k] == '(' || w[6].s[k] == ')')
                return 0;
        }
        ip = &w[6];
        i = 7;
    }
    if (!(n == i + 2 || n == i + 8) || !word_is(&w[i], "address"))
        return 0;
    if (n == i + 8) {
        if (!word_is(&w[i + 2], "reverse") || !word_is(&w[i + 3], "dns") || !word_is(&w[i + 4], "host") ||
            !word_is(&w[i + 6], "verified") || !(word_is(&w[i + 7], "yes") || word_is(&w[i + 7], "no")))
            return 0;
        host = &w[i + 5];
    }
    if (add_field(out, s_client_ip, word_text(&w[i + 1])) < 0 || add_field(out, s_listener, word_text(&w[5])) < 0)
        return -1;
    if (ip != NULL && ip->n > 2) {
        if (add_field(out, s_listener_ip, PyUnicode_DecodeASCII(ip->s + 1, ip->n - 2, "strict")) < 0)
            return -1;
    } else {
        Py_INCREF(Py_None);
        if (add_field(out, s_listener_ip, Py_None) < 0)
            return -1;
    }
    /* A name is kept only when verified, and "unknown" is none. */
    verified = host != NULL && word_is(&w[i + 7], "yes") && !word_is_ci(host, "unknown");
    if (verified && add_field(out, s_client_host, word_text(host)) < 0)
        return -1;
    return 1;
}

/* C7: New SMTP DCID n interface X address Y [port p]; the port is kept when it is one (1-65535). */
static int
kept_c7(const Word *w, int n, PyObject *out)
{
    long long port = 0;
    PyObject *value;
    if (!(n == 8 || n == 10) || !word_is(&w[4], "interface") || !word_is(&w[6], "address"))
        return 0;
    if (n == 10 && (!word_is(&w[8], "port") || digits(w[9].s, w[9].s + w[9].n, &port) != w[9].s + w[9].n))
        return 0;
    if (add_field(out, s_local_ip, word_text(&w[5])) < 0 || add_field(out, s_remote_ip, word_text(&w[7])) < 0)
        return -1;
    if (port > 0 && port < 65536) {
        value = PyLong_FromLongLong(port);
    } else {
        value = Py_None;
        Py_INCREF(value);
    }
    return add_field(out, s_remote_port, value) < 0 ? -1 : 1;
}

/* The tail of C2 after its rule: (?: +SBRS +(not enabled|\S+))?(?: +country +(.+?))?\s*$ over words,
 * tried as the regular expression tries it. 1 when it matches, with the SBRS words (*sbrs_n 0: none). */
static int
c2_country(const Word *w, int n)
{
    return n == 0 || (n >= 2 && word_is_ci(&w[0], "country"));
}

static int
c2_tail(const Word *w, int n, int *sbrs_n)
{
    if (n >= 2 && word_is_ci(&w[0], "sbrs")) {
        if (n >= 3 && word_is_ci(&w[1], "not") && word_is_ci(&w[2], "enabled") && c2_country(w + 3, n - 3)) {
            *sbrs_n = 2;
            return 1;
        }
        if (c2_country(w + 2, n - 2)) {
            *sbrs_n = 1;
            return 1;
        }
    }
    *sbrs_n = 0;
    return c2_country(w, n);
}

/* [-+]?\d+(?:\.\d+)? (pipeline._NUMBER) */
static int
is_number(const Word *w)
{
    Py_ssize_t i = 0, d = 0;
    if (i < w->n && (w->s[i] == '-' || w->s[i] == '+'))
        i++;
    for (; i < w->n && w->s[i] >= '0' && w->s[i] <= '9'; i++)
        d++;
    if (d == 0)
        return 0;
    if (i == w->n)
        return 1;
    if (w->s[i] != '.' || i + 1 == w->n)
        return 0;
    for (i++; i < w->n; i++) {
        if (w->s[i] < '0' || w->s[i] > '9')
            return 0;
    }
    return 1;
}

/*
 * C2: ICID n VERDICT SG sg match [rule] [SBRS x] [country c]
 * The sender group is lazy (.*?): it ends before the first word "match" (any
 * case) after one word at least, the rest always matching (the rule can take
 * all of it). The rule is lazy and optional (??): none first, then one word,
 * two..., until the SBRS and country parts and the end match after it.
 */
static int
kept_c2(const Word *w, int n, PyObject *out)
{
    int j, r, sbrs_n = 0;
    const Word *rest;
    PyObject *group, *score;
    for (j = 5; j < n && !word_is_ci(&w[j], "match"); j++)
        ;
    if (j >= n || !word_is(&w[3], "SG") ||
        !(word_is(&w[2], "ACCEPT") || word_is(&w[2], "REJECT") || word_is(&w[2], "TCPREFUSE") || word_is(&w[2], "RELAY")))
        return 0;
    rest = w + j + 1;
    for (r = 0; r <= n - j - 1; r++) {
        if (c2_tail(rest + r, n - j - 1 - r, &sbrs_n))
            break;
    }
    /* The group as logged, "None" being none. */
    if (j - 4 == 1 && word_is(&w[4], "None")) {
        group = Py_None;
        Py_INCREF(group);
    } else {
        group = words_text(w + 4, j - 4);
    }
    if (add_field(out, s_sender_group, group) < 0)
        return -1;
    if (sbrs_n == 1 && is_number(&rest[r + 1])) {
        score = word_text(&rest[r + 1]);
    } else {
        score = Py_None;
        Py_INCREF(score);
    }
    if (add_field(out, s_sbrs, score) < 0)
        return -1;
    Py_INCREF(Py_None);
    return add_field(out, s_raw_verdict, Py_None) < 0 ? -1 : 1;
}

/* " +word +(\S+)" at p (any case, one or more spaces): the value's end, with *value its start; NULL if none. */
static const char *
tls_part(const char *p, const char *e, const char *name, const char **value)
{
    Py_ssize_t k, n = (Py_ssize_t)strlen(name);
    const char *q = p;
    while (q < e && *q == ' ')
        q++;
    if (q == p || e - q < n)
        return NULL;
    for (k = 0; k < n; k++) {
        char c = q[k];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != name[k])
            return NULL;
    }
    p = q + n;
    q = p;
    while (q < e && *q == ' ')
        q++;
    if (q == p)
        return NULL;
    *value = q;
    return word(q, e);
}

/*
 * C4, C8t after "ICID n " or "DCID n ": TLS success (?: +protocol +(\S+))?(?: +cipher +(\S+))?.*$
 * Both groups are greedy and optional, and ".*$" takes any rest: the first way
 * each group matches is the template's (printable ASCII: \S is [!-~]).
 */
static int
kept_tls(const char *p, const char *e, PyObject *out)
{
    const char *proto = NULL, *proto_end, *cipher = NULL, *cipher_end;
    PyObject *value;
    if (!(p = lit(p, e, "TLS success")))
        return 0;
    if ((proto_end = tls_part(p, e, "protocol", &proto)) != NULL)
        p = proto_end;
    else
        proto = NULL;
    if ((cipher_end = tls_part(p, e, "cipher", &cipher)) == NULL)
        cipher = NULL;
    if (add_field(out, s_tls, PyBool_FromLong(1)) < 0)
        return -1;
    value = proto != NULL ? PyUnicode_DecodeASCII(proto, proto_end - proto, "strict") : (Py_INCREF(Py_None), Py_None);
    if (add_field(out, s_tls_protocol, value) < 0)
        return -1;
    value = cipher != NULL ? PyUnicode_DecodeASCII(cipher, cipher_end - cipher, "strict") : (Py_INCREF(Py_None), Py_None);
    if (add_field(out, s_tls_cipher, value) < 0)
        return -1;
    Py_INCREF(Py_None);
    return add_field(out, s_raw_tls, Py_None) < 0 ? -1 : 1;
}

/* The session fields of a kept body (pipeline._session_values), appended to ``out``:
 * 1 when read here, 0 when the body needs its template, -1 on an error. */
static int
kept_fields(const char *s, const char *e, PyObject *out)
{
    Word w[MAX_WORDS];
    const char *p;
    long long number;
    int n;
    if (!printable(s, e))
        return 0;
    if ((p = lit(s, e, "ICID ")) || (p = lit(s, e, "DCID "))) {
        if (!(p = digits(p, e, &number)) || !(p = lit(p, e, " ")))
            return 0;
        if (lit(p, e, "TLS "))
            return kept_tls(p, e, out);
        if (s[0] == 'D')
            return 0;
        n = split_words(s, e, w);
        return n >= 6 ? kept_c2(w, n, out) : 0;
    }
    n = split_words(s, e, w);
    if (n < 8 || !word_is(&w[0], "New") || !word_is(&w[1], "SMTP") ||
        digits(w[3].s, w[3].s + w[3].n, &number) != w[3].s + w[3].n)
        return 0;
    if (word_is(&w[2], "ICID"))
        return kept_c1(w, n, out);
    if (word_is(&w[2], "DCID"))
        return kept_c7(w, n, out);
    return 0;
}

/* Read the bodies a session keeps (Normalizer._resolve): here when each is read
 * here, else by ``resolve``. 0, or -1 on an error. */
static int
read_kept(PyObject *session, PyObject *resolve)
{
    PyObject *names[3], *bodies[3] = {NULL, NULL, NULL}, *fields = NULL, *result;
    int i, kept = 0, here = 1, rc = -1;
    Py_ssize_t k;
    names[0] = s_raw_open;
    names[1] = s_raw_verdict;
    names[2] = s_raw_tls;
    for (i = 0; i < 3; i++) {
        if ((bodies[i] = PyObject_GetAttr(session, names[i])) == NULL)
            goto done;
        if (bodies[i] == Py_None)
            Py_CLEAR(bodies[i]);
        else
            kept = 1;
    }
    if (!kept) {
        rc = 0;
        goto done;
    }
    if ((fields = PyList_New(0)) == NULL)
        goto done;
    for (i = 0; i < 3 && here; i++) {
        int read;
        if (bodies[i] == NULL)
            continue;
        if (!PyBytes_Check(bodies[i]) || PyBytes_GET_SIZE(bodies[i]) == 0) {
            here = 0;
            break;
        }
        read = kept_fields(PyBytes_AS_STRING(bodies[i]), PyBytes_AS_STRING(bodies[i]) + PyBytes_GET_SIZE(bodies[i]),
                           fields);
        if (read < 0)
            goto done;
        here = read;
    }
    if (!here) {
        if ((result = PyObject_CallOneArg(resolve, session)) == NULL)
            goto done;
        Py_DECREF(result);
        rc = 0;
        goto done;
    }
    for (i = 0; i < 3; i++) {
        if (PyObject_SetAttr(session, names[i], Py_None) < 0)
            goto done;
    }
    for (k = 0; k < PyList_GET_SIZE(fields); k++) {
        PyObject *pair = PyList_GET_ITEM(fields, k);
        if (PyObject_SetAttr(session, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1)) < 0)
            goto done;
    }
    rc = 0;
done:
    for (i = 0; i < 3; i++)
        Py_XDECREF(bodies[i]);
    Py_XDECREF(fields);
    return rc;
}

/* The first bytes of the dispatch keys of ``heads_of``, in both cases (is_key's first test). */
static unsigned char key_heads[256];
static PyObject *heads_of;

/* The last field-name tuple found equal to FIELDS (a tuple is immutable, and so are its str items). */
static PyObject *checked_fields;

/* Parse ctx (see write_event's EventContext) into c. 0, or -1 with an error set. */
static int
event_context(PyObject *ctx, EventContext *c)
{
    PyObject *fields, *info[N_TEMPLATES];
    Py_ssize_t i, j;
    if (!PyArg_ParseTuple(ctx, "O!SnOOOOO!UUO!O!O!O!:scan ctx", &PyList_Type, &c->out, &c->key, &c->offset,
                          &c->digest, &c->is_ip, &c->resolve, &c->time, &PyFrozenSet_Type, &c->cleartext, &c->vendor,
                          &c->product,
                          &PyTuple_Type, &fields, &PyTuple_Type, &info[E_T1], &PyTuple_Type, &info[E_T2],
                          &PyTuple_Type, &info[E_T10]))
        return -1;
    if (c->offset < 0) {
        PyErr_SetString(PyExc_ValueError, "scan: the source offset must not be negative");
        return -1;
    }
    if (fields != checked_fields) {
        /* Checked once per tuple: the caller gives the same one (events.FIELD_ORDER) at every call. */
        if (PyTuple_GET_SIZE(fields) != N_FIELDS) {
            PyErr_SetString(PyExc_ValueError, "scan: the event fields are not those of this module");
            return -1;
        }
        for (i = 0; i < N_FIELDS; i++) {
            PyObject *name = PyTuple_GET_ITEM(fields, i);
            if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, FIELDS[i]) != 0) {
                PyErr_SetString(PyExc_ValueError, "scan: the event fields are not those of this module");
                return -1;
            }
        }
        Py_INCREF(fields);
        Py_XSETREF(checked_fields, fields);
    }
    for (i = 0; i < N_TEMPLATES; i++) {
        if (PyTuple_GET_SIZE(info[i]) != N_INFO) {
            PyErr_SetString(PyExc_ValueError, "scan: a template's event values must be 7");
            return -1;
        }
        for (j = 0; j < N_INFO; j++) {
            PyObject *value = PyTuple_GET_ITEM(info[i], j);
            if (value != Py_None && !PyUnicode_CheckExact(value)) {
                PyErr_SetString(PyExc_TypeError, "scan: a template's event values must be str or None");
                return -1;
            }
            c->info[i][j] = value;
        }
    }
    return 0;
}

static PyObject *
scan(PyObject *module, PyObject *args)
{
    PyObject *buf, *prefix, *keys_obj, *table, *sessions, *session_type, *env, *ctx = Py_None;
    Py_ssize_t pos, end, limit, max_sessions;
    double timeout;
    PyObject *when = NULL, *opened = NULL, *appliance = NULL, *move_to_end = NULL; /* table.move_to_end, bound once */
    PyObject *dvc = Py_None, *serial = Py_None, *version = Py_None;
    PyObject *time_text = NULL; /* RFC 3339 text of ``when``, made at the first event (one envelope per call) */
    EventContext events;
    int ahead = 0, code = DONE;
    uint32_t keys[MAX_KEYS];
    Py_ssize_t i, nkeys, size, lines = 0, fast = 0, emitted = 0, evicted_full = 0, evicted_idle = 0;
    const char *b, *pfx;

    (void)module;
    if (!PyArg_ParseTuple(args, "SnnnSSO!OOndO|O:scan", &buf, &pos, &end, &limit, &prefix, &keys_obj, &PyDict_Type,
                          &table, &sessions, &session_type, &max_sessions, &timeout, &env, &ctx))
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
    if (keys_obj != heads_of) {
        /* Made once per keys object: the caller gives the same one (pipeline._DISPATCH_KEYS) at every call. */
        memset(key_heads, 0, sizeof(key_heads));
        for (i = 0; i < nkeys; i++) {
            unsigned char c = (unsigned char)PyBytes_AS_STRING(keys_obj)[4 * i];
            key_heads[c] = 1;
            if (c >= 'a' && c <= 'z')
                key_heads[c - 32] = 1;
        }
        Py_INCREF(keys_obj);
        Py_XSETREF(heads_of, keys_obj);
    }
    if (!PyType_Check(session_type)) {
        PyErr_SetString(PyExc_TypeError, "scan: session_type must be a class");
        return NULL;
    }
    if (ctx != Py_None) {
        if (!PyTuple_Check(ctx)) {
            PyErr_SetString(PyExc_TypeError, "scan: ctx must be a tuple or None");
            return NULL;
        }
        if (event_context(ctx, &events) < 0)
            return NULL;
    }
    if (env != Py_None) {
        if (!PyTuple_Check(env)) {
            PyErr_SetString(PyExc_TypeError, "scan: env must be a tuple or None");
            return NULL;
        }
        if (ctx != Py_None ? !PyArg_ParseTuple(env, "OOUpOOO:scan env", &when, &opened, &appliance, &ahead, &dvc,
                                               &serial, &version)
                           : !PyArg_ParseTuple(env, "OOUp|OOO:scan env", &when, &opened, &appliance, &ahead, &dvc,
                                               &serial, &version))
            return NULL;
        if (when != Py_None && !PyFloat_Check(when)) {
            PyErr_SetString(PyExc_TypeError, "scan: the envelope time must be a float or None");
            return NULL;
        }
        if ((dvc != Py_None && !PyUnicode_Check(dvc)) || (serial != Py_None && !PyUnicode_Check(serial)) ||
            (version != Py_None && !PyUnicode_Check(version))) {
            PyErr_SetString(PyExc_TypeError, "scan: the envelope's dvc, serial and version must be str or None");
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
        const char *body, *content, *after, *next;
        Form form;
        EventForm event;
        int is_event = 0;

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
        if (content - body < 4 || !is_key((const unsigned char *)body, keys, nkeys, key_heads)) {
            lines++; /* no template starts this way: skipped */
            pos += length + 1;
            continue;
        }
        if (pos + length + 1 >= end) {
            code = LINE; /* the last line of the block may be wrapped */
            break;
        }
        if (!fast_form(body, content, &form)) {
            /* An event is made when the next line comes (Python finishes a held-back
             * line there), and only when that line is within the limit. */
            if (ctx == Py_None || !event_form(body, content, &event) || !printable(line, body)) {
                code = LINE; /* others need a template */
                break;
            }
            is_event = 1;
        }
        after = nl + 1;
        next = memchr(after, '\n', (size_t)(b + end - after));
        if (is_event && next - after > limit) {
            code = LINE;
            break;
        }
        if (env == Py_None) {
            /* Reading the envelope may warn: the full way warns first about the
             * cut of a next line over the limit (it finishes a line at the next
             * one), so such a line goes to Python. */
            code = (next - after > limit) ? LINE : ENVELOPE;
            break;
        }
        if (move_to_end == NULL && (move_to_end = PyObject_GetAttr(table, s_move_to_end)) == NULL)
            goto error;
        if (is_event) {
            /* SessionTable.get: the session is touched (a touch form), then its kept lines are read. */
            PyObject *session = NULL;
            int written = -1;
            form.verb = V_TOUCH;
            form.outbound = event.template == E_T10;
            form.number = event.number;
            if (apply(&form, table, move_to_end, sessions, session_type, max_sessions, timeout, when, opened,
                      appliance, &ahead, body, 0, &evicted_full, &evicted_idle, &session) == 0) {
                if (time_text == NULL && when != Py_None) {
                    time_text = PyObject_CallOneArg(events.time, when);
                    if (time_text != NULL && !PyUnicode_CheckExact(time_text)) {
                        PyErr_SetString(PyExc_TypeError, "scan: the time text must be a str");
                        Py_CLEAR(time_text);
                    }
                }
                if ((when == Py_None || time_text != NULL) &&
                    (session == NULL || read_kept(session, events.resolve) == 0))
                    written = write_event(&events, &event, session, when == Py_None ? Py_None : time_text, dvc,
                                          serial, version, line, content - line, events.offset + pos);
            }
            Py_XDECREF(session);
            if (written < 0)
                goto error;
            if (written == 0) {
                code = LINE; /* Python makes this event */
                break;
            }
            emitted++;
        } else {
            if (apply(&form, table, move_to_end, sessions, session_type, max_sessions, timeout, when, opened,
                      appliance, &ahead, body, content - body, &evicted_full, &evicted_idle, NULL) < 0)
                goto error;
            fast++;
        }
        lines++;
        pos += length + 1;
    }
    Py_XDECREF(move_to_end);
    Py_XDECREF(time_text);
    return Py_BuildValue("innnnnin", code, pos, lines, fast, evicted_full, evicted_idle, ahead, emitted);
error:
    Py_XDECREF(move_to_end);
    Py_XDECREF(time_text);
    return NULL;
}

/* A line start that opens a log line (envelope.starts_envelope): its first three
 * bytes are one of ``heads`` (three bytes each), or "<" and a digit. ``avail`` is
 * how many bytes the line has there. */
static int
opens(const char *p, Py_ssize_t avail, const char *heads, Py_ssize_t nheads)
{
    Py_ssize_t i;
    if (avail >= 3) {
        for (i = 0; i < nheads; i++) {
            if (p[0] == heads[3 * i] && p[1] == heads[3 * i + 1] && p[2] == heads[3 * i + 2])
                return 1;
        }
    }
    return avail >= 2 && p[0] == '<' && p[1] >= '0' && p[1] <= '9';
}

/* all_envelopes(buf, end, heads) -> bool: envelope.all_envelopes in C (every line
 * of buf[:end], which ends with a newline, opens a log line). */
static PyObject *
py_all_envelopes(PyObject *module, PyObject *args)
{
    PyObject *buf, *heads_obj;
    Py_ssize_t end, nheads, size;
    const char *b, *heads, *p, *stop;
    (void)module;
    if (!PyArg_ParseTuple(args, "SnS:all_envelopes", &buf, &end, &heads_obj))
        return NULL;
    size = PyBytes_GET_SIZE(buf);
    if (end < 0 || end > size) {
        PyErr_SetString(PyExc_ValueError, "all_envelopes: end out of the buffer");
        return NULL;
    }
    if (PyBytes_GET_SIZE(heads_obj) % 3) {
        PyErr_SetString(PyExc_ValueError, "all_envelopes: heads must be of three bytes each");
        return NULL;
    }
    if (end == 0)
        Py_RETURN_TRUE;
    b = PyBytes_AS_STRING(buf);
    heads = PyBytes_AS_STRING(heads_obj);
    nheads = PyBytes_GET_SIZE(heads_obj) / 3;
    /* The first line, as starts_envelope(buf[:3]) sees it. */
    if (!opens(b, size < 3 ? size : 3, heads, nheads))
        Py_RETURN_FALSE;
    /* Every newline before the last byte starts a line, seen up to that byte. */
    stop = b + end - 1;
    for (p = b; p < stop && (p = memchr(p, '\n', (size_t)(stop - p))) != NULL; p++) {
        if (!opens(p + 1, stop - (p + 1), heads, nheads))
            Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
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

/* json_string(text) -> str: an ASCII str as a JSON string, as this module writes it. For tests. */
static PyObject *
py_json_string(PyObject *module, PyObject *arg)
{
    Text t = {NULL, 0, 0};
    PyObject *out = NULL;
    (void)module;
    if (!PyUnicode_Check(arg) || !PyUnicode_IS_ASCII(arg)) {
        PyErr_SetString(PyExc_TypeError, "json_string: ASCII str expected");
        return NULL;
    }
    if (put_json_ascii(&t, (const char *)PyUnicode_DATA(arg), PyUnicode_GET_LENGTH(arg)) == 0)
        out = PyUnicode_DecodeASCII(t.data, t.len, "strict");
    PyMem_Free(t.data);
    return out;
}

/* kept_fields(body) -> [(name, value), ...] or None: the session fields this
 * module reads from a kept body (None: left to its template). For tests. */
static PyObject *
py_kept_fields(PyObject *module, PyObject *arg)
{
    PyObject *out;
    int read;
    (void)module;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "kept_fields: bytes expected");
        return NULL;
    }
    if ((out = PyList_New(0)) == NULL)
        return NULL;
    read = PyBytes_GET_SIZE(arg) == 0 ? 0
                                      : kept_fields(PyBytes_AS_STRING(arg), PyBytes_AS_STRING(arg) + PyBytes_GET_SIZE(arg), out);
    if (read <= 0) {
        Py_DECREF(out);
        if (read < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Read the lines of a block up to the first one that needs Python."},
    {"fast_form", py_fast_form, METH_O, "The fast form of a line body: (verb, outbound, number, mid) or None."},
    {"all_envelopes", py_all_envelopes, METH_VARARGS, "Whether every line of buf[:end] opens a log line."},
    {"json_string", py_json_string, METH_O, "An ASCII str as a JSON string, as the event path writes it."},
    {"kept_fields", py_kept_fields, METH_O, "The session fields read here from a kept session-line body, or None."},
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
        !(s_outbound = PyUnicode_InternFromString("d")) ||
        !(s_client_ip = PyUnicode_InternFromString("client_ip")) ||
        !(s_client_host = PyUnicode_InternFromString("client_host")) ||
        !(s_listener = PyUnicode_InternFromString("listener")) ||
        !(s_listener_ip = PyUnicode_InternFromString("listener_ip")) ||
        !(s_sender_group = PyUnicode_InternFromString("sender_group")) ||
        !(s_sbrs = PyUnicode_InternFromString("sbrs")) || !(s_tls = PyUnicode_InternFromString("tls")) ||
        !(s_tls_protocol = PyUnicode_InternFromString("tls_protocol")) ||
        !(s_tls_cipher = PyUnicode_InternFromString("tls_cipher")) ||
        !(s_local_ip = PyUnicode_InternFromString("local_ip")) ||
        !(s_remote_ip = PyUnicode_InternFromString("remote_ip")) ||
        !(s_remote_port = PyUnicode_InternFromString("remote_port")) ||
        !(s_hexdigest = PyUnicode_InternFromString("hexdigest")))
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

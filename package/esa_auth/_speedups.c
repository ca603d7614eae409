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
 *     Python loop applies it, its sessions read and set in the slots of
 *     ``session_type`` (sessions.Session: see Layout below); or
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
#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#define Py_READONLY READONLY
#endif
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdint.h>
#include <string.h>

enum { DONE = 0, LINE = 1, LONG = 2, ENVELOPE = 3 };

/* What a session line does: the verbs of pipeline._FAST_ACTIONS. */
enum { V_NONE = -1, V_OPEN = 0, V_CLOSE, V_VERDICT, V_TLS, V_MID, V_TOUCH };

#define MAX_KEYS 64
#define MAX_DIGITS 18 /* \d{1,18} in the forms: fits in a signed 64-bit integer */

static PyObject *s_move_to_end, *s_popitem, *s_advance, *s_inbound, *s_outbound;

/* The fields of sessions.Session, which holds them in __slots__: the loop reads
 * and sets them where the class keeps them (see Layout below). */
enum {
    K_OPENED, K_SEEN, K_CLIENT_IP, K_CLIENT_HOST, K_LISTENER, K_LISTENER_IP, K_SENDER_GROUP, K_SBRS,
    K_LOCAL_IP, K_REMOTE_IP, K_REMOTE_PORT, K_TLS, K_TLS_PROTOCOL, K_TLS_CIPHER, K_MID,
    K_RAW_OPEN, K_RAW_VERDICT, K_RAW_TLS, N_SLOTS
};
static const char *const SLOT_NAMES[N_SLOTS] = {
    "opened", "seen", "client_ip", "client_host", "listener", "listener_ip", "sender_group", "sbrs",
    "local_ip", "remote_ip", "remote_port", "tls", "tls_protocol", "tls_cipher", "mid",
    "raw_open", "raw_verdict", "raw_tls",
};
static PyObject *slot_name[N_SLOTS]; /* interned */

/*
 * Where a session class keeps each field: the offsets of its member descriptors
 * (a class with __slots__), and a session made with no arguments (the
 * defaults). Made for the class scan() is given, and again only when another
 * class comes. A session is read and set here only when it is of exactly that
 * class; scan() refuses a table that holds anything else.
 */
typedef struct {
    PyTypeObject *type; /* strong reference */
    PyObject *defaults; /* type(), strong reference */
    Py_ssize_t at[N_SLOTS];
} Layout;
static Layout layout;

#define SLOT(session, k) (*(PyObject **)((char *)(session) + layout.at[k]))

typedef struct {
    int verb;
    int outbound;
    long long number; /* ICID or DCID */
    long long mid;    /* V_MID only */
} Form;

/* Whether [s, e) is printable ASCII (0x20-0x7e): sixteen bytes at a time where SSE2 is, then eight. */
static int
printable(const char *s, const char *e)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
#ifdef __SSE2__
    const __m128i low = _mm_set1_epi8(0x20), high = _mm_set1_epi8(0x7e);
    for (; e - s >= 16; s += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)s);
        /* Signed: the bytes over 0x7f are negative, so under 0x20 too. */
        if (_mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(b, low), _mm_cmpgt_epi8(b, high))))
            return 0;
    }
#endif
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
 * touched as SessionTable.get does, its kept lines read here or by ctx's
 * resolve, its id hashed here with BLAKE2b as hashlib does) and appends its
 * CIM JSON text, as the command line writes it (json.dumps of
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

/*
 * BLAKE2b (RFC 7693), unkeyed, with a 16-byte digest: the event id is
 * blake2b(data, digest_size=16).hexdigest() in pipeline (hashlib), and this is
 * the same function, so that an event made here needs no hash object.
 * tests/test_speedups.py holds it to hashlib on inputs of every length around
 * the 128-byte blocks.
 */
/* Lowercase hex digits (the event id, and JSON's \u00XX escapes). */
static const char HEX[] = "0123456789abcdef";

static const uint64_t B2_IV[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};
static const uint8_t B2_SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static uint64_t
load64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

#define ROTR64(x, n) (((x) >> (n)) | ((x) << (64 - (n))))
#define B2_G(a, b, c, d, x, y)      \
    do {                            \
        a = a + b + (x);            \
        d = ROTR64(d ^ a, 32);      \
        c = c + d;                  \
        b = ROTR64(b ^ c, 24);      \
        a = a + b + (y);            \
        d = ROTR64(d ^ a, 16);      \
        c = c + d;                  \
        b = ROTR64(b ^ c, 63);      \
    } while (0)

/* F of RFC 7693 section 3.2, for a block, the bytes hashed so far (under 2**64 here), and the last-block flag. */
static void
b2_compress(uint64_t h[8], const unsigned char block[128], uint64_t count, int last)
{
    uint64_t v[16], m[16];
    int i;
    for (i = 0; i < 16; i++)
        m[i] = load64(block + 8 * i);
    for (i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = B2_IV[i];
    }
    v[12] ^= count;
    if (last)
        v[14] = ~v[14];
    /* The twelve rounds written out, so that the message words each takes are constants. */
#define B2_ROUND(r)                                                                  \
    do {                                                                             \
        B2_G(v[0], v[4], v[8], v[12], m[B2_SIGMA[r][0]], m[B2_SIGMA[r][1]]);      \
        B2_G(v[1], v[5], v[9], v[13], m[B2_SIGMA[r][2]], m[B2_SIGMA[r][3]]);      \
        B2_G(v[2], v[6], v[10], v[14], m[B2_SIGMA[r][4]], m[B2_SIGMA[r][5]]);     \
        B2_G(v[3], v[7], v[11], v[15], m[B2_SIGMA[r][6]], m[B2_SIGMA[r][7]]);     \
        B2_G(v[0], v[5], v[10], v[15], m[B2_SIGMA[r][8]], m[B2_SIGMA[r][9]]);     \
        B2_G(v[1], v[6], v[11], v[12], m[B2_SIGMA[r][10]], m[B2_SIGMA[r][11]]);   \
        B2_G(v[2], v[7], v[8], v[13], m[B2_SIGMA[r][12]], m[B2_SIGMA[r][13]]);    \
        B2_G(v[3], v[4], v[9], v[14], m[B2_SIGMA[r][14]], m[B2_SIGMA[r][15]]);    \
    } while (0)
    B2_ROUND(0);
    B2_ROUND(1);
    B2_ROUND(2);
    B2_ROUND(3);
    B2_ROUND(4);
    B2_ROUND(5);
    B2_ROUND(6);
    B2_ROUND(7);
    B2_ROUND(8);
    B2_ROUND(9);
    B2_ROUND(10);
    B2_ROUND(11);
#undef B2_ROUND
    for (i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
}

/* The 32 lowercase hex digits of BLAKE2b-128 of [data, data + n) into out. */
static void
event_digest(const char *data, Py_ssize_t n, char out[32])
{
    const unsigned char *p = (const unsigned char *)data;
    unsigned char block[128];
    uint64_t h[8];
    uint64_t count = 0;
    int i;
    for (i = 0; i < 8; i++)
        h[i] = B2_IV[i];
    h[0] ^= 0x01010000ULL ^ 16; /* depth 1, fanout 1, no key, 16-byte digest */
    while (n > 128) {
        count += 128;
        b2_compress(h, p, count, 0);
        p += 128;
        n -= 128;
    }
    memset(block, 0, sizeof(block));
    memcpy(block, p, (size_t)n);
    count += (uint64_t)n;
    b2_compress(h, block, count, 1);
    for (i = 0; i < 16; i++) {
        unsigned char byte = (unsigned char)(h[i / 8] >> (8 * (i % 8)));
        out[2 * i] = HEX[byte >> 4];
        out[2 * i + 1] = HEX[byte & 15];
    }
}

/* ``,"name":`` for each field, made at import: write_event puts a field's name in one copy
 * (the first field's without its comma, after the "{"). */
#define FIELD_HEAD 32
static char field_head[N_FIELDS][FIELD_HEAD];
static Py_ssize_t field_head_len[N_FIELDS];

/* What a template gives its events (patterns.LinePattern), in this order. */
#define N_INFO 7
static const int INFO_FIELDS[N_INFO] = {F_ACTION, F_ACTIVITY, F_APP, F_DIRECTION, F_SIGNATURE, F_SIGNATURE_ID, F_REASON};

/* A growing text (bytes). */
typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Text;

/* What the scan needs to write events (from ctx, see scan()); borrowed references. */
typedef struct {
    Text *text;          /* the buffer an event's text is made in (one per scan call, reused) */
    PyObject *out;       /* the list the event texts are appended to */
    PyObject *key;       /* bytes: Stream.key as UTF-8 (errors replaced) */
    Py_ssize_t offset;   /* source offset of buf[0] */
    PyObject *is_ip;     /* text.is_ip */
    PyObject *resolve;   /* Normalizer._resolve */
    PyObject *time;      /* Normalizer._time: epoch -> RFC 3339 text */
    PyObject *cleartext; /* CLEARTEXT_MECHANISMS */
    PyObject *vendor, *product;
    PyObject *info[N_TEMPLATES][N_INFO];
} EventContext;


/* Room for ``n`` more bytes (n > 0). 0, or -1 with MemoryError. */
static int
reserve(Text *t, Py_ssize_t n)
{
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
    return 0;
}

static int
put(Text *t, const char *s, Py_ssize_t n)
{
    if (n == 0)
        return 0; /* nothing to copy, and the text may have no buffer yet */
    if (reserve(t, n) < 0)
        return -1;
    memcpy(t->data + t->len, s, (size_t)n);
    t->len += n;
    return 0;
}

/* A number in decimal, written backwards from ``end`` (at least 21 bytes after the buffer's start): its first byte. */
static char *
decimal(char *end, long long value)
{
    unsigned long long rest = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    char *p = end;
    do {
        *--p = (char)('0' + rest % 10);
        rest /= 10;
    } while (rest > 0);
    if (value < 0)
        *--p = '-';
    return p;
}

/* Bytes known to be ASCII as a str, without a second check: every caller gives bytes that
 * printable() passed (the line of an event, a kept body) or that this module wrote. */
static PyObject *
ascii_str(const char *s, Py_ssize_t n)
{
    PyObject *text = PyUnicode_New(n, 127);
    if (text != NULL)
        memcpy(PyUnicode_DATA(text), s, (size_t)n);
    return text;
}

/* Whether any of eight bytes is under 0x20, a quote or a backslash (what JSON escapes in ASCII text). */
static int
needs_escape(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = x ^ (0x22 * ones), backslash = x ^ (0x5c * ones);
    return ((((x - 0x20 * ones) & ~x) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) & highs) != 0;
}

/* 1 for the bytes JSON escapes in ASCII text (filled at import). */
static unsigned char json_escaped[256];

/* Whether any byte of [s, s + n) is one JSON escapes (ASCII text): sixteen bytes at a time
 * where SSE2 is (every x86-64), then eight; the last eight again when fewer are left. */
static int
any_escape(const char *s, Py_ssize_t n)
{
    uint64_t x;
    Py_ssize_t i = 0;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    for (; n - i >= 16; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* Signed: a byte over 0x7f would count as under 0x20, but ASCII text has none. */
        __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, quote), _mm_cmpeq_epi8(b, backslash)),
                                   _mm_cmplt_epi8(b, space));
        if (_mm_movemask_epi8(bad))
            return 1;
    }
#endif
    for (; n - i >= 8; i += 8) {
        memcpy(&x, s + i, 8);
        if (needs_escape(x))
            return 1;
    }
    if (i == n)
        return 0;
    if (n >= 8) {
        memcpy(&x, s + n - 8, 8); /* the last eight, some seen already */
        return needs_escape(x);
    }
    {
        /* Fewer than eight bytes in all (many values are short words). */
        unsigned char bad = 0;
        for (; i < n; i++)
            bad |= json_escaped[(unsigned char)s[i]];
        return bad;
    }
}

/* ASCII text as a JSON string, escaped as json.dumps escapes it. */
static int
put_json_ascii(Text *t, const char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0, run = 0;
    if (!any_escape(s, n)) {
        /* Most values: the text between two quotes, in one copy. */
        if (reserve(t, n + 2) < 0)
            return -1;
        t->data[t->len] = '"';
        memcpy(t->data + t->len + 1, s, (size_t)n);
        t->data[t->len + n + 1] = '"';
        t->len += n + 2;
        return 0;
    }
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
        if (!json_escaped[c]) {
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
            esc[4] = HEX[c >> 4];
            esc[5] = HEX[c & 15];
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
    if (PyLong_CheckExact(v)) {
        int overflow;
        long long number = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (number == -1 && PyErr_Occurred())
            return -1;
        if (!overflow) {
            char digits_[24];
            char *first = decimal(digits_ + sizeof(digits_), number);
            return put(t, first, digits_ + sizeof(digits_) - first) < 0 ? -1 : 1;
        }
        text = PyObject_Str(v); /* beyond 64 bits */
    } else if (PyFloat_CheckExact(v) && isfinite(PyFloat_AS_DOUBLE(v)))
        text = PyObject_Repr(v); /* what json writes for a float */
    else
        return 0;
    if (text == NULL)
        return -1;
    rc = put(t, (const char *)PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)) < 0 ? -1 : 1;
    Py_DECREF(text);
    return rc;
}

/* A session field (borrowed), or NULL with AttributeError when its slot is empty (as reading it in Python would). */
static PyObject *
slot_get(PyObject *session, int k)
{
    PyObject *v = SLOT(session, k);
    if (v == NULL)
        PyErr_Format(PyExc_AttributeError, "%s", SLOT_NAMES[k]);
    return v;
}

/* Set a session field (``value`` is not stolen). */
static void
slot_set(PyObject *session, int k, PyObject *value)
{
    Py_INCREF(value);
    Py_XSETREF(SLOT(session, k), value);
}

/* A session field, None as NULL: 0 with *out a new reference or NULL, -1 on an error. */
static int
attr(PyObject *session, int k, PyObject **out)
{
    PyObject *v = slot_get(session, k);
    *out = NULL;
    if (v == NULL)
        return -1;
    if (v != Py_None) {
        Py_INCREF(v);
        *out = v;
    }
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

/* The session's fields an event takes (Normalizer._event). 0, or -1 on an error. */
static int
session_fields(const EventContext *c, const EventForm *f, PyObject *session, PyObject **v)
{
    PyObject *tls;
    if (f->template == E_T10) {
        return attr(session, K_LOCAL_IP, &v[F_SRC]) < 0 || ip_of(c, v[F_SRC], &v[F_SRC_IP]) < 0 ||
                       attr(session, K_REMOTE_PORT, &v[F_DEST_PORT]) < 0 || attr(session, K_TLS, &v[F_TLS]) < 0 ||
                       attr(session, K_TLS_PROTOCOL, &v[F_TLS_PROTOCOL]) < 0 ||
                       attr(session, K_TLS_CIPHER, &v[F_TLS_CIPHER]) < 0 || attr(session, K_MID, &v[F_MID]) < 0
                   ? -1
                   : 0;
    }
    if (attr(session, K_CLIENT_IP, &v[F_SRC]) < 0 || ip_of(c, v[F_SRC], &v[F_SRC_IP]) < 0 ||
        attr(session, K_CLIENT_HOST, &v[F_SRC_HOST]) < 0 || attr(session, K_LISTENER_IP, &v[F_DEST]) < 0 ||
        ip_of(c, v[F_DEST], &v[F_DEST_IP]) < 0 || attr(session, K_LISTENER, &v[F_LISTENER]) < 0 ||
        attr(session, K_SENDER_GROUP, &v[F_SENDER_GROUP]) < 0 || attr(session, K_SBRS, &v[F_SBRS]) < 0 ||
        attr(session, K_TLS, &v[F_TLS]) < 0 || attr(session, K_TLS_PROTOCOL, &v[F_TLS_PROTOCOL]) < 0 ||
        attr(session, K_TLS_CIPHER, &v[F_TLS_CIPHER]) < 0 || attr(session, K_MID, &v[F_MID]) < 0)
        return -1;
    if (v[F_SBRS] != NULL) {
        /* float(session.sbrs), kept only within [-10, 10] */
        PyObject *score = PyNumber_Float(v[F_SBRS]);
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
            upper = ascii_str(up, n);
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

/* An event's value, unless it is None (which leaves the field out): a new reference in v[field]. */
static void
keep(PyObject **v, int field, PyObject *value)
{
    if (value != Py_None) {
        Py_INCREF(value);
        v[field] = value;
    }
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
    PyObject *text;
    Text *t = c->text;
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
        if (set)
            keep(v, INFO_FIELDS[i], value);
    }
    keep(v, F_TIME, time_text);
    keep(v, F_DVC, dvc);
    keep(v, F_DVC_SERIAL, serial);
    keep(v, F_PRODUCT_VERSION, version);
    keep(v, F_VENDOR, c->vendor); /* str: checked with the context */
    keep(v, F_VENDOR_PRODUCT, c->product);
    if (!(v[F_RAW] = ascii_str(raw, raw_len)) ||
        !(v[F_SERVICE] = ascii_str(f->profile, f->profile_end - f->profile)) ||
        !(v[inbound ? F_ICID : F_DCID] = PyLong_FromLongLong(f->number)))
        goto done;
    {
        /* str(icid or dcid) */
        char *first = decimal(number + sizeof(number), f->number);
        if (!(v[F_SESSION_ID] = ascii_str(first, number + sizeof(number) - first)))
            goto done;
    }
    if (inbound) {
        /* A user logged as "-" is no user. */
        if (!(f->user_end - f->user == 1 && f->user[0] == '-') &&
            !(v[F_USER] = ascii_str(f->user, f->user_end - f->user)))
            goto done;
        if (!(v[F_METHOD] = ascii_str(f->mech, f->mech_end - f->mech)))
            goto done;
    } else if (!(v[F_DEST] = ascii_str(f->ip, f->ip_end - f->ip)) ||
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
        char *p = decimal(number + sizeof(number), offset);
        t->len = 0;
        if (put(t, PyBytes_AS_STRING(c->key), PyBytes_GET_SIZE(c->key)) < 0 || put(t, "", 1) < 0 ||
            put(t, p, number + sizeof(number) - p) < 0 || put(t, "", 1) < 0 || put(t, raw, raw_len) < 0)
            goto done;
    }
    {
        char id[32];
        event_digest(t->data, t->len, id);
        if (!(v[F_EVENT_ID] = ascii_str(id, 32)))
            goto done;
    }
    t->len = 0;
    for (i = 0; i < N_FIELDS; i++) {
        if (v[i] == NULL)
            continue;
        if (t->len == 0 ? put(t, "{", 1) < 0 || put(t, field_head[i] + 1, field_head_len[i] - 1) < 0
                        : put(t, field_head[i], field_head_len[i]) < 0)
            goto done;
        written = put_json(t, v[i]);
        if (written <= 0) {
            rc = written;
            goto done;
        }
    }
    /* Only ASCII was written: what put_json writes is ASCII, and it leaves any other str to Python. */
    if (put(t, "}", 1) < 0 || !(text = ascii_str(t->data, t->len)))
        goto done;
    rc = PyList_Append(c->out, text) < 0 ? -1 : 1;
    Py_DECREF(text);
done:
    for (i = 0; i < N_FIELDS; i++)
        Py_XDECREF(v[i]);
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

/* The table's methods the loop calls, bound once per scan() call, and the key
 * apply() last put at the end of the table's order with its session (strong
 * references; NULL when not known). Within a call apply() moves keys to the
 * end, and the Python it calls only drops keys or reads: advance() drops idle
 * sessions from the front (a damaged session time can make it drop the last
 * one too), _resolve, is_ip and the time function read. So a line of the
 * session touched last reuses its key tuple and, when the table still holds
 * that same session under it (the lookup is made every time), needs no
 * move_to_end. Two lines of one session often follow each other. Not seen: a
 * finalizer that moves another key to the end during a call (a session field
 * holding an object whose __del__ reorders the table; the library puts only
 * text, numbers and None there). */
typedef struct {
    PyObject *move_to_end, *popitem;
    PyObject *last, *last_session;
} Bound;

static void
set_last(Bound *bound, PyObject *key, PyObject *session)
{
    Py_INCREF(key);
    Py_XSETREF(bound->last, key);
    Py_INCREF(session);
    Py_XSETREF(bound->last_session, session);
}

static void
clear_last(Bound *bound)
{
    Py_CLEAR(bound->last);
    Py_CLEAR(bound->last_session);
}

/* Session(when, opened) with raw_open set to the body, as the Python loop makes it
 * (the class's __init__ only sets its fields: the defaults are copied from
 * layout.defaults instead). A new reference, or NULL on an error. */
static PyObject *
new_session(PyObject *when, PyObject *opened, const char *body, Py_ssize_t body_len)
{
    PyObject *session, *raw;
    int k;
    if ((raw = PyBytes_FromStringAndSize(body, body_len)) == NULL)
        return NULL;
    if ((session = layout.type->tp_alloc(layout.type, 0)) == NULL) {
        Py_DECREF(raw);
        return NULL;
    }
    for (k = 0; k < N_SLOTS; k++) {
        PyObject *value = k == K_OPENED ? when : k == K_SEEN ? opened : k == K_RAW_OPEN ? raw : SLOT(layout.defaults, k);
        Py_XINCREF(value);
        SLOT(session, k) = value;
    }
    Py_DECREF(raw);
    PyObject_GC_UnTrack(session); /* see apply() */
    return session;
}

/* Apply a session line to the table, as pipeline.Normalizer._lines does. 0 on success, -1 on error. */
static int
apply(const Form *f, PyObject *table, Bound *bound, PyObject *sessions, Py_ssize_t max_sessions,
      double timeout, PyObject *when, PyObject *opened, PyObject *appliance, int *ahead, const char *body,
      Py_ssize_t body_len, Py_ssize_t *evicted_full, Py_ssize_t *evicted_idle, PyObject **touched)
{
    PyObject *number, *key, *found, *value, *result;
    int last; /* the line's session is the one touched last, still at the end */
    int timed = when != Py_None;
    double now = timed ? PyFloat_AsDouble(when) : 0.0;
    int rc = -1;

    if (timed && now == -1.0 && PyErr_Occurred())
        return -1;
    if (bound->last != NULL && PyTuple_GET_ITEM(bound->last, 0) == appliance &&
        PyTuple_GET_ITEM(bound->last, 1) == (f->outbound ? s_outbound : s_inbound) &&
        PyLong_AsLongLong(PyTuple_GET_ITEM(bound->last, 2)) == f->number) {
        key = bound->last; /* the appliance is the same object throughout a call (one envelope) */
        Py_INCREF(key);
    } else {
        number = PyLong_FromLongLong(f->number);
        if (number == NULL)
            return -1;
        key = PyTuple_Pack(3, appliance, f->outbound ? s_outbound : s_inbound, number);
        Py_DECREF(number);
        if (key == NULL)
            return -1;
    }

    found = PyDict_GetItemWithError(table, key); /* borrowed; an OrderedDict is a dict */
    if (found == NULL && PyErr_Occurred())
        goto done;
    if (found != NULL && Py_TYPE(found) != layout.type) {
        PyErr_SetString(PyExc_TypeError, "scan: the session table holds something other than sessions");
        goto done;
    }
    last = key == bound->last && found != NULL && found == bound->last_session;
    if (key == bound->last && (!last || f->verb == V_CLOSE || f->verb == V_OPEN))
        clear_last(bound); /* gone or replaced since, or it goes now, or comes back as new */
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
        if ((session = new_session(when, opened, body, body_len)) == NULL)
            goto done;
        /* Neither the key (str, str, int) nor the session (str, bytes, numbers, None)
         * can be part of a reference cycle: the garbage collector need not walk them,
         * which it would otherwise do over and over in a full table. */
        PyObject_GC_UnTrack(key);
        if (PyObject_SetItem(table, key, session) < 0) {
            Py_DECREF(session);
            goto done;
        }
        set_last(bound, key, session);
        Py_DECREF(session);
        if (*ahead) {
            result = PyObject_CallMethodObjArgs(sessions, s_advance, when, NULL);
            if (result == NULL)
                goto done;
            Py_DECREF(result);
            *ahead = 0;
        }
        if (PyDict_Size(table) > max_sessions) {
            result = PyObject_CallOneArg(bound->popitem, Py_False);
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
            value = slot_get(found, K_SEEN);
            seen = value == NULL ? -1.0 : PyFloat_AsDouble(value);
            if (seen == -1.0 && PyErr_Occurred()) {
                Py_DECREF(found);
                goto done;
            }
            idle = now - seen > timeout;
            later = now > seen;
        }
        if (idle) {
            /* Idle longer than the timeout: not that session's line. */
            if (key == bound->last)
                clear_last(bound);
            if (PyObject_DelItem(table, key) < 0) {
                Py_DECREF(found);
                goto done;
            }
            (*evicted_idle)++;
        } else {
            int failed = 0;
            if (later)
                slot_set(found, K_SEEN, when);
            if (!last) {
                result = PyObject_CallOneArg(bound->move_to_end, key);
                if (result == NULL) {
                    failed = 1;
                } else {
                    Py_DECREF(result);
                    set_last(bound, key, found);
                }
            }
            if (!failed && (f->verb == V_VERDICT || f->verb == V_TLS)) {
                value = PyBytes_FromStringAndSize(body, body_len);
                if (value == NULL)
                    failed = 1;
                else
                    slot_set(found, f->verb == V_VERDICT ? K_RAW_VERDICT : K_RAW_TLS, value);
                Py_XDECREF(value);
            } else if (!failed && f->verb == V_MID) {
                value = PyLong_FromLongLong(f->mid);
                if (value == NULL)
                    failed = 1;
                else
                    slot_set(found, K_MID, value);
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

/* The session fields read from kept bodies, in the order they were read. */
typedef struct {
    PyObject *value[N_SLOTS]; /* new references, NULL when not read */
    int order[N_SLOTS];
    int n;
} Kept;

static void
kept_clear(Kept *kept)
{
    int k;
    for (k = 0; k < N_SLOTS; k++)
        Py_CLEAR(kept->value[k]);
    kept->n = 0;
}

/* Add a session field to ``out``; the value is stolen. 0, or -1 on an error (a NULL value). */
static int
add_field(Kept *out, int k, PyObject *value)
{
    if (value == NULL)
        return -1;
    if (out->value[k] == NULL)
        out->order[out->n++] = k;
    Py_XSETREF(out->value[k], value);
    return 0;
}

static PyObject *
word_text(const Word *w)
{
    return ascii_str(w->s, w->n);
}

/* Words [w, w + n) joined by one space (as they stand in the body). */
static PyObject *
words_text(const Word *w, int n)
{
    return ascii_str(w[0].s, w[n - 1].s + w[n - 1].n - w[0].s);
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
kept_c1(const Word *w, int n, Kept *out)
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
    if (add_field(out, K_CLIENT_IP, word_text(&w[i + 1])) < 0 || add_field(out, K_LISTENER, word_text(&w[5])) < 0)
        return -1;
    if (ip != NULL && ip->n > 2) {
        if (add_field(out, K_LISTENER_IP, ascii_str(ip->s + 1, ip->n - 2)) < 0)
            return -1;
    } else {
        Py_INCREF(Py_None);
        if (add_field(out, K_LISTENER_IP, Py_None) < 0)
            return -1;
    }
    /* A name is kept only when verified, and "unknown" is none. */
    verified = host != NULL && word_is(&w[i + 7], "yes") && !word_is_ci(host, "unknown");
    if (verified && add_field(out, K_CLIENT_HOST, word_text(host)) < 0)
        return -1;
    return 1;
}

/* C7: New SMTP DCID n interface X address Y [port p]; the port is kept when it is one (1-65535). */
static int
kept_c7(const Word *w, int n, Kept *out)
{
    long long port = 0;
    PyObject *value;
    if (!(n == 8 || n == 10) || !word_is(&w[4], "interface") || !word_is(&w[6], "address"))
        return 0;
    if (n == 10 && (!word_is(&w[8], "port") || digits(w[9].s, w[9].s + w[9].n, &port) != w[9].s + w[9].n))
        return 0;
    if (add_field(out, K_LOCAL_IP, word_text(&w[5])) < 0 || add_field(out, K_REMOTE_IP, word_text(&w[7])) < 0)
        return -1;
    if (port > 0 && port < 65536) {
        value = PyLong_FromLongLong(port);
    } else {
        value = Py_None;
        Py_INCREF(value);
    }
    return add_field(out, K_REMOTE_PORT, value) < 0 ? -1 : 1;
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
kept_c2(const Word *w, int n, Kept *out)
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
    if (add_field(out, K_SENDER_GROUP, group) < 0)
        return -1;
    if (sbrs_n == 1 && is_number(&rest[r + 1])) {
        score = word_text(&rest[r + 1]);
    } else {
        score = Py_None;
        Py_INCREF(score);
    }
    if (add_field(out, K_SBRS, score) < 0)
        return -1;
    Py_INCREF(Py_None);
    return add_field(out, K_RAW_VERDICT, Py_None) < 0 ? -1 : 1;
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
kept_tls(const char *p, const char *e, Kept *out)
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
    if (add_field(out, K_TLS, PyBool_FromLong(1)) < 0)
        return -1;
    value = proto != NULL ? ascii_str(proto, proto_end - proto) : (Py_INCREF(Py_None), Py_None);
    if (add_field(out, K_TLS_PROTOCOL, value) < 0)
        return -1;
    value = cipher != NULL ? ascii_str(cipher, cipher_end - cipher) : (Py_INCREF(Py_None), Py_None);
    if (add_field(out, K_TLS_CIPHER, value) < 0)
        return -1;
    Py_INCREF(Py_None);
    return add_field(out, K_RAW_TLS, Py_None) < 0 ? -1 : 1;
}

/* The session fields of a kept body (pipeline._session_values), appended to ``out``:
 * 1 when read here, 0 when the body needs its template, -1 on an error. */
static int
kept_fields(const char *s, const char *e, Kept *out)
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
    static const int raw[3] = {K_RAW_OPEN, K_RAW_VERDICT, K_RAW_TLS};
    PyObject *bodies[3] = {NULL, NULL, NULL}, *result;
    Kept fields = {{NULL}, {0}, 0};
    int i, kept = 0, here = 1, rc = -1;
    for (i = 0; i < 3; i++) {
        if ((bodies[i] = slot_get(session, raw[i])) == NULL)
            goto done;
        if (bodies[i] == Py_None) {
            bodies[i] = NULL;
        } else {
            Py_INCREF(bodies[i]);
            kept = 1;
        }
    }
    if (!kept) {
        rc = 0;
        goto done;
    }
    for (i = 0; i < 3 && here; i++) {
        int read;
        if (bodies[i] == NULL)
            continue;
        if (!PyBytes_Check(bodies[i]) || PyBytes_GET_SIZE(bodies[i]) == 0) {
            here = 0;
            break;
        }
        read = kept_fields(PyBytes_AS_STRING(bodies[i]), PyBytes_AS_STRING(bodies[i]) + PyBytes_GET_SIZE(bodies[i]),
                           &fields);
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
    for (i = 0; i < 3; i++)
        slot_set(session, raw[i], Py_None);
    for (i = 0; i < fields.n; i++)
        slot_set(session, fields.order[i], fields.value[fields.order[i]]);
    rc = 0;
done:
    for (i = 0; i < 3; i++)
        Py_XDECREF(bodies[i]);
    kept_clear(&fields);
    return rc;
}

/* scan() calls running: key_heads and layout stay as they are until they end. */
static int running;

/* Make ``layout`` for a session class, unless it is for that class already. 0, or -1 with an error set. */
static int
layout_of(PyTypeObject *type)
{
    Layout made;
    int k;
    if (type == layout.type)
        return 0;
    if (type->tp_dict == NULL || !PyType_IS_GC(type)) {
        PyErr_SetString(PyExc_TypeError, "scan: session_type must be a class with __slots__ for the session fields");
        return -1;
    }
    for (k = 0; k < N_SLOTS; k++) {
        PyObject *descr = PyDict_GetItemWithError(type->tp_dict, slot_name[k]);
        PyMemberDef *member;
        if (descr == NULL && PyErr_Occurred())
            return -1;
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
            ((PyDescrObject *)descr)->d_type != type) {
            PyErr_Format(PyExc_TypeError, "scan: session_type must keep %s in __slots__", SLOT_NAMES[k]);
            return -1;
        }
        member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != Py_T_OBJECT_EX || (member->flags & Py_READONLY) || member->offset < (Py_ssize_t)sizeof(PyObject) ||
            member->offset > type->tp_basicsize - (Py_ssize_t)sizeof(PyObject *)) {
            PyErr_Format(PyExc_TypeError, "scan: session_type keeps %s in an unexpected way", SLOT_NAMES[k]);
            return -1;
        }
        made.at[k] = member->offset;
    }
    /* Sessions are made here with tp_alloc and filled: a base other than object, or a
     * __new__ of its own, would have set up more than the slots (a dict's table...). */
    if (type->tp_base != &PyBaseObject_Type || type->tp_itemsize != 0 || type->tp_new != PyBaseObject_Type.tp_new ||
        type->tp_alloc != PyType_GenericAlloc) {
        PyErr_SetString(PyExc_TypeError, "scan: session_type must be a plain class (of object, without __new__)");
        return -1;
    }
    made.defaults = PyObject_CallNoArgs((PyObject *)type);
    if (made.defaults == NULL)
        return -1;
    if (Py_TYPE(made.defaults) != type) {
        Py_DECREF(made.defaults);
        PyErr_SetString(PyExc_TypeError, "scan: session_type() must make a session of that class");
        return -1;
    }
    Py_INCREF(type);
    made.type = type;
    Py_XDECREF(layout.type);
    Py_XDECREF(layout.defaults);
    layout = made;
    return 0;
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
    if (!PyArg_ParseTuple(ctx, "O!SnOOOO!UUO!O!O!O!:scan ctx", &PyList_Type, &c->out, &c->key, &c->offset,
                          &c->is_ip, &c->resolve, &c->time, &PyFrozenSet_Type, &c->cleartext, &c->vendor,
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
    PyObject *when = NULL, *opened = NULL, *appliance = NULL;
    Bound bound = {NULL, NULL, NULL, NULL};
    PyObject *dvc = Py_None, *serial = Py_None, *version = Py_None;
    PyObject *result = NULL;
    PyObject *time_text = NULL; /* RFC 3339 text of ``when``, made at the first event (one envelope per call) */
    EventContext events;
    Text text = {NULL, 0, 0};
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
    if (!PyType_Check(session_type)) {
        PyErr_SetString(PyExc_TypeError, "scan: session_type must be a class");
        return NULL;
    }
    if (running > 0 && (keys_obj != heads_of || (PyTypeObject *)session_type != layout.type)) {
        /* From the Python a running call calls (or another thread while it does): the
         * running call reads key_heads and layout, which are made for its keys and class. */
        PyErr_SetString(PyExc_RuntimeError, "scan: called with other keys or another session class while a call runs");
        return NULL;
    }
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
    if (layout_of((PyTypeObject *)session_type) < 0)
        return NULL;
    if (ctx != Py_None) {
        if (!PyTuple_Check(ctx)) {
            PyErr_SetString(PyExc_TypeError, "scan: ctx must be a tuple or None");
            return NULL;
        }
        if (event_context(ctx, &events) < 0)
            return NULL;
        events.text = &text;
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
    running++;
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
        if (bound.move_to_end == NULL && (!(bound.move_to_end = PyObject_GetAttr(table, s_move_to_end)) ||
                                           !(bound.popitem = PyObject_GetAttr(table, s_popitem))))
            goto error;
        if (is_event) {
            /* SessionTable.get: the session is touched (a touch form), then its kept lines are read. */
            PyObject *session = NULL;
            int written = -1;
            form.verb = V_TOUCH;
            form.outbound = event.template == E_T10;
            form.number = event.number;
            if (apply(&form, table, &bound, sessions, max_sessions, timeout, when, opened,
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
            if (apply(&form, table, &bound, sessions, max_sessions, timeout, when, opened,
                      appliance, &ahead, body, content - body, &evicted_full, &evicted_idle, NULL) < 0)
                goto error;
            fast++;
        }
        lines++;
        pos += length + 1;
    }
    result = Py_BuildValue("innnnnin", code, pos, lines, fast, evicted_full, evicted_idle, ahead, emitted);
error:
    running--;
    Py_XDECREF(bound.move_to_end);
    Py_XDECREF(bound.popitem);
    clear_last(&bound);
    Py_XDECREF(time_text);
    PyMem_Free(text.data);
    return result;
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

/* event_digest(data) -> str: the event id's hash of bytes, as hashlib.blake2b(data,
 * digest_size=16).hexdigest() gives it. For tests. */
static PyObject *
py_event_digest(PyObject *module, PyObject *arg)
{
    char id[32];
    (void)module;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "event_digest: bytes expected");
        return NULL;
    }
    event_digest(PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg), id);
    return ascii_str(id, 32);
}

/* kept_fields(body) -> [(name, value), ...] or None: the session fields this
 * module reads from a kept body, in the order it reads them (None: left to its
 * template). For tests. */
static PyObject *
py_kept_fields(PyObject *module, PyObject *arg)
{
    Kept fields = {{NULL}, {0}, 0};
    PyObject *out = NULL;
    int i, read;
    (void)module;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "kept_fields: bytes expected");
        return NULL;
    }
    read = PyBytes_GET_SIZE(arg) == 0 ? 0
                                      : kept_fields(PyBytes_AS_STRING(arg), PyBytes_AS_STRING(arg) + PyBytes_GET_SIZE(arg),
                                                    &fields);
    if (read < 0)
        goto done;
    if (read == 0) {
        Py_INCREF(Py_None);
        out = Py_None;
        goto done;
    }
    if ((out = PyList_New(fields.n)) == NULL)
        goto done;
    for (i = 0; i < fields.n; i++) {
        PyObject *pair = PyTuple_Pack(2, slot_name[fields.order[i]], fields.value[fields.order[i]]);
        if (pair == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, pair);
    }
done:
    kept_clear(&fields);
    return out;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Read the lines of a block up to the first one that needs Python."},
    {"fast_form", py_fast_form, METH_O, "The fast form of a line body: (verb, outbound, number, mid) or None."},
    {"all_envelopes", py_all_envelopes, METH_VARARGS, "Whether every line of buf[:end] opens a log line."},
    {"json_string", py_json_string, METH_O, "An ASCII str as a JSON string, as the event path writes it."},
    {"event_digest", py_event_digest, METH_O, "The event id's hash of bytes: BLAKE2b of 16 bytes, in hex."},
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
    int i;
    for (i = 0; i < N_SLOTS; i++) {
        if (!(slot_name[i] = PyUnicode_InternFromString(SLOT_NAMES[i])))
            return NULL;
    }
    if (!(s_move_to_end = PyUnicode_InternFromString("move_to_end")) ||
        !(s_popitem = PyUnicode_InternFromString("popitem")) || !(s_advance = PyUnicode_InternFromString("advance")) ||
        !(s_inbound = PyUnicode_InternFromString("i")) || !(s_outbound = PyUnicode_InternFromString("d")) )
        return NULL;
    for (i = 0; i < 256; i++)
        json_escaped[i] = i < 0x20 || i == '"' || i == '\\';
    for (i = 0; i < N_FIELDS; i++) {
        int n = snprintf(field_head[i], FIELD_HEAD, ",\"%s\":", FIELDS[i]);
        if (n < 0 || n >= FIELD_HEAD) {
            PyErr_SetString(PyExc_SystemError, "_speedups: a field name is too long");
            return NULL;
        }
        field_head_len[i] = n;
    }
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

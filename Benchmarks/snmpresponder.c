// snmpresponder.c: a fast SNMP v1/v2c agent simulator for the poller benchmarks. It serves N agents
// from one .snmprec file, with one UDP socket per thread instead of one socket per agent.
//
// Build: cc -O2 -o /tmp/snmpresponder Benchmarks/snmpresponder.c      (C11, glibc >= 2.34: no -pthread)
// Run:   /tmp/snmpresponder --data FILE.snmprec [--agents N] [--port 161] [--community public]
//            [--threads 1] [--seconds 600] [--max-bulk 0] [--max-size 65000] [--pidfile FILE]
//            [--sysname-prefix STR] [--user NAME] [--label STR]
//        Benchmarks/snmpresponder.sh wraps it like Benchmarks/snmpsim/agents.sh wraps snmpsim.
//
// Agents: agent k (k = 0..N-1) is 127.20.(k div 250).(k mod 250 + 1), the addressing of
// Benchmarks/snmpsim/agents.sh (agent 0 127.20.0.1, agent 9999 127.20.39.250; N at most 64,000). All of
// them answer the same data. The sockets are bound to 0.0.0.0:PORT (SO_REUSEPORT, one per thread); the
// address a request was sent to comes from IP_PKTINFO, and the reply leaves from that address
// (sendmmsg with an IP_PKTINFO ipi_spec_dst). Datagrams to any other address (outside the N agents,
// or not 127.20/16 at all) and datagrams from outside 127.0.0.0/8 are dropped and counted, never
// answered: the program only ever sends to loopback sources.
//
// Data: a .snmprec file (snmpsim's format, Benchmarks/snmpsim/make-device.py writes them): lines
// OID|TAG|VALUE, TAG the decimal ASN.1 tag: 2 Integer32, 4 OCTET STRING, 5 NULL, 6 OBJECT IDENTIFIER,
// 64 IpAddress, 65 Counter32, 66 Gauge32, 67 TimeTicks, 68 Opaque, 70 Counter64, 128/129/130
// noSuchObject/noSuchInstance/endOfMibView; a suffix x means VALUE is hex, e a Python-escaped string
// (\n \t \\ \xHH ...). TAG:numeric (make-device.py --counters numeric) is snmpsim's numeric variation
// module, here with initial= rate= min= max= wrap only: value = initial + rate x (seconds since start),
// wrapping modulo max - min + 1 (Counter32 at 2^32 as a real one; snmpsim wraps modulo max) or else
// held at max; computed in 64-bit integer/80-bit float arithmetic (exact up to 2^64, snmpsim rounds
// above 2^53). Any other variation module is refused. Lines are sorted by OID (numerically) at load;
// a duplicate OID is an error. Every record's varbind (SEQUENCE { OID, value }) is BER-encoded once at
// start; a response is built by copying them (binary search for the first OID, then consecutive).
//
// Protocol: SNMPv1 (version 0) and v2c (1), community --community (a request with another one is
// dropped and counted, as snmpd does). GET, GETNEXT, GETBULK (v2c), SET (refused: v2c noAccess, v1
// noSuchName, the variables echoed). Request-id echoed. Responses at most --max-size bytes (default
// 65,000): GETBULK then returns fewer repetitions (cut at a varbind, as RFC 3416 allows); a GET or
// GETNEXT that does not fit gets tooBig. --max-bulk N caps the varbinds of one GETBULK response like
// net-snmp's maxGetbulkResponses (whole repetitions: max-repetitions lowered to (N - non-repeaters) /
// repeaters); 0 (default) is no cap but the size. GETBULK stops early after a repetition where every
// repeater hit endOfMibView.
//   v2c GET of a missing OID: noSuchInstance when the OID is a prefix of a record's or has a neighbour
//     of the same length that differs only in its last arc (a missing row, a missing .0), else
//     noSuchObject (a heuristic: there is no MIB here; snmpsim always says noSuchInstance).
//   v2c GETNEXT/GETBULK past the last record: endOfMibView. Records of tag 128-130 are skipped by
//     GETNEXT/GETBULK and answered as that exception by GET.
//   v1: a GET miss, or past the end in a GETNEXT, is error-status noSuchName (2) with error-index
//     (1-based) and the request's varbinds echoed; Counter64 is not a v1 type, so v1 GETNEXT skips
//     Counter64 records and v1 GET of one is noSuchName (as net-snmp does); GETBULK in v1 is dropped
//     (counted as malformed).
// Malformed datagrams (BER errors, lengths past the end, OIDs of more than 128 arcs or arcs above
// 2^32-1, over 16,384 varbinds) are counted and dropped; every read is bounds-checked.
//
// Options:
//   --data FILE         the .snmprec file (required; a lone non-option argument is taken as FILE)
//   --agents N          agents served (default 1; 1..64000)
//   --port P            UDP port (default 161)
//   --community S       community (default public)
//   --threads T         threads, each with its own SO_REUSEPORT socket (default 1; 1..64). The kernel
//                       spreads datagrams over the sockets by a hash of addresses and ports
//   --seconds S         exit after S seconds (default 600; at most 86400)
//   --max-bulk N        at most N varbinds per GETBULK response (default 0: only the size limit)
//   --max-size B        largest response datagram (default 65000; 484..65507)
//   --pidfile FILE      write the pid there once the sockets are bound
//   --sysname-prefix S  sysName.0 (1.3.6.1.2.1.1.5.0) of agent k answers S<k> (e.g. "agent-" gives
//                       agent-0, agent-1, ...) instead of the file's value; encoded at send time
//   --user NAME         after binding, drop root to NAME (its uid and gid, no supplementary groups)
//   --label S           ignored; lets a harness recognise its process by its command line
// Signals: SIGTERM, SIGINT end it (within 0.2 s); SIGUSR1 prints the counters so far.
// stderr: "snmpresponder: ready ..." once bound; on exit one line of counters: requests by PDU type,
// responses, varbinds and bytes sent, malformed, bad_version, bad_community, out_of_range (agent
// address not served), nonlocal_source, too_big, bulk_size_capped (GETBULK cut by --max-size),
// send/recv errors, and the process's CPU time.
//
// Cost: recvmmsg/sendmmsg in batches of 64, no allocation after start; nearly all of its CPU is the
// kernel's UDP work. Measured on the 2-core box this was written on (make-device.py's 48-interface data,
// GETBULK -Cr25 walks of system + ifTable + ifXTable, 1,591 OIDs per agent in 65 requests; the
// responder returns 1,622 varbinds per agent, the last of each walk past its subtree):
//   snmpbulkwalk, 200 agents, xargs -P4: 0.39-0.45 CPU-s for 324,400 varbinds (720,000-830,000
//     varbinds per CPU-second, 30-35 us per request, 80 % of it system time: one wake-up per request
//     at this low concurrency); the snmpbulkwalk processes take 15 times the responder's CPU
//   a C walker with 256 agents in flight, 10,000 agents: the full poll (650,000 GETBULKs, 16.2 M
//     varbinds) in 6.9 s wall, 6.7 CPU-s of the responder (one thread): 2.4 M varbinds per CPU-second,
//     10 us per request (0.8 s user, 5.9 s system)
//   memory: 1-2 MB RSS for 1614 records (32 KB encoded), 8.5 MB of buffers per thread reserved
// --threads 2 did not help on 2 cores already busy with the client; use it when cores are free.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARCS 128
#define MAX_AGENTS 64000
#define MAX_THREADS 64
#define MAX_REQ_VBS 16384
#define BATCH 64
#define RXSZ 65536
#define HEADROOM 320      // room in front of the varbinds for the message header (community <= 255)
#define TXSZ (HEADROOM + RXSZ + 64)
#define MAX_COMMUNITY 255
#define MAX_PREFIX 200

// ---------------------------------------------------------------------------------------------
// configuration

static struct {
    const char *data;
    const char *community;
    size_t community_len;
    int agents;
    int port;
    int threads;
    double seconds;
    int max_bulk;
    size_t max_size;
    const char *pidfile;
    const char *sysname_prefix;
    size_t sysname_prefix_len;
    const char *user;
} cfg = {NULL, "public", 6, 1, 161, 1, 600, 0, 65000, NULL, NULL, 0, NULL};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("snmpresponder: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static double now_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// ---------------------------------------------------------------------------------------------
// the data: records sorted by OID, each with its varbind pre-encoded

enum { K_STATIC = 0, K_NUMERIC = 1, K_SYSNAME = 2 };

struct rec {
    uint32_t arcs;   // offset of the OID's arcs in g_arcs
    uint32_t vb;     // offset of the varbind encoding in g_pool (K_STATIC: SEQUENCE { OID, value })
    uint32_t vblen;
    uint32_t oid;    // offset of the OID TLV in g_pool
    uint32_t num;    // K_NUMERIC: index in g_num
    uint16_t narcs;
    uint16_t oidlen;
    uint8_t tag;     // the value's ASN.1 tag
    uint8_t kind;
};

struct numeric {
    long double initial, rate, min, max;
    int wrap;
};

static struct rec *g_recs;
static size_t g_nrecs;
static uint32_t *g_arcs;
static size_t g_narcs_used, g_narcs_cap;
static uint8_t *g_pool;
static size_t g_pool_used, g_pool_cap;
static struct numeric *g_num;
static size_t g_nnum, g_num_cap;
static double g_start;

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die("out of memory");
    return q;
}

static size_t pool_put(const void *b, size_t n) {
    if (g_pool_used + n > g_pool_cap) {
        while (g_pool_used + n > g_pool_cap) g_pool_cap = g_pool_cap ? g_pool_cap * 2 : 65536;
        if (g_pool_cap > 0xF0000000u) die("data too large");
        g_pool = xrealloc(g_pool, g_pool_cap);
    }
    memcpy(g_pool + g_pool_used, b, n);
    g_pool_used += n;
    return g_pool_used - n;
}

// BER helpers --------------------------------------------------------------------------------

static size_t len_size(size_t len) { return len < 0x80 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 4; }

static size_t put_len(uint8_t *o, size_t len) { // forward; len < 2^24
    if (len < 0x80) { o[0] = (uint8_t)len; return 1; }
    if (len < 0x100) { o[0] = 0x81; o[1] = (uint8_t)len; return 2; }
    if (len < 0x10000) { o[0] = 0x82; o[1] = (uint8_t)(len >> 8); o[2] = (uint8_t)len; return 3; }
    o[0] = 0x83; o[1] = (uint8_t)(len >> 16); o[2] = (uint8_t)(len >> 8); o[3] = (uint8_t)len;
    return 4;
}

static size_t int_content(uint8_t *o, int64_t v) { // minimal two's complement
    uint8_t t[8];
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++) t[i] = (uint8_t)(u >> (56 - 8 * i));
    int s = 0;
    while (s < 7 && ((t[s] == 0x00 && !(t[s + 1] & 0x80)) || (t[s] == 0xff && (t[s + 1] & 0x80)))) s++;
    memcpy(o, t + s, 8 - s);
    return 8 - s;
}

static size_t uint_content(uint8_t *o, uint64_t v) { // unsigned: a leading 0 when the top bit is set
    uint8_t t[9];
    t[0] = 0;
    for (int i = 0; i < 8; i++) t[i + 1] = (uint8_t)(v >> (56 - 8 * i));
    int s = 0;
    while (s < 8 && t[s] == 0 && !(t[s + 1] & 0x80)) s++;
    memcpy(o, t + s, 9 - s);
    return 9 - s;
}

static size_t enc_int(uint8_t *o, uint8_t tag, int64_t v) { // TLV, at most 10 bytes
    o[0] = tag;
    size_t n = int_content(o + 2, v);
    o[1] = (uint8_t)n;
    return n + 2;
}

static size_t enc_uint(uint8_t *o, uint8_t tag, uint64_t v) { // TLV, at most 11 bytes
    o[0] = tag;
    size_t n = uint_content(o + 2, v);
    o[1] = (uint8_t)n;
    return n + 2;
}

static size_t oid_content(uint8_t *o, const uint32_t *a, size_t n) { // n >= 2; at most 5 * n bytes
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        uint64_t v = i == 1 ? (uint64_t)a[0] * 40 + a[1] : a[i];
        uint8_t t[10];
        int m = 0;
        do { t[m++] = v & 0x7f; v >>= 7; } while (v && m < 10);
        while (m > 1) o[k++] = t[--m] | 0x80;
        o[k++] = t[0];
    }
    return k;
}

// comparison of arc arrays: lexicographic, a prefix first
static int cmp_arcs(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return na < nb ? -1 : na > nb ? 1 : 0;
}

// loading -------------------------------------------------------------------------------------

struct line {
    uint32_t arcs;
    uint16_t narcs;
    size_t lineno;
    char *tag, *value; // into the file buffer
};
static struct line *g_lines;

static int cmp_lines(const void *x, const void *y) {
    const struct line *a = x, *b = y;
    return cmp_arcs(g_arcs + a->arcs, a->narcs, g_arcs + b->arcs, b->narcs);
}

static size_t arcs_reserve(size_t n) {
    if (g_narcs_used + n > g_narcs_cap) {
        while (g_narcs_used + n > g_narcs_cap) g_narcs_cap = g_narcs_cap ? g_narcs_cap * 2 : 16384;
        g_arcs = xrealloc(g_arcs, g_narcs_cap * sizeof *g_arcs);
    }
    return g_narcs_used;
}

// "1.3.6.1..." (optional leading dot) into a[]; returns the number of arcs or -1
static int parse_dotted(const char *s, uint32_t *a, int max) {
    int n = 0;
    if (*s == '.') s++;
    if (!*s) return -1;
    while (*s) {
        if (n >= max) return -1;
        if (*s < '0' || *s > '9') return -1;
        uint64_t v = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 11) { v = v * 10 + (uint64_t)(*s - '0'); s++; digits++; }
        if (v > 0xFFFFFFFFu || (*s >= '0' && *s <= '9')) return -1;
        a[n++] = (uint32_t)v;
        if (*s == '.') { s++; if (!*s) return -1; }
        else if (*s) return -1;
    }
    return n;
}

static int valid_oid(const uint32_t *a, int n) {
    if (n < 2 || a[0] > 2 || (a[0] < 2 && a[1] >= 40)) return 0;
    if (a[0] == 2 && (uint64_t)a[1] + 80 > 0xFFFFFFFFu) return 0;
    return 1;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// the bytes of a value written as hex (x), Python escapes (e) or raw; out has room for strlen(v)
static long value_bytes(const char *v, char enc, uint8_t *out) {
    size_t n = 0, L = strlen(v);
    if (enc == 'x') {
        if (L % 2) return -1;
        for (size_t i = 0; i < L; i += 2) {
            int h = hexval(v[i]), l = hexval(v[i + 1]);
            if (h < 0 || l < 0) return -1;
            out[n++] = (uint8_t)(h << 4 | l);
        }
        return (long)n;
    }
    if (enc == 'e') {
        for (size_t i = 0; i < L; i++) {
            if (v[i] != '\\') { out[n++] = (uint8_t)v[i]; continue; }
            if (++i >= L) return -1;
            switch (v[i]) {
            case '\\': out[n++] = '\\'; break;
            case '\'': out[n++] = '\''; break;
            case '"': out[n++] = '"'; break;
            case 'a': out[n++] = 7; break;
            case 'b': out[n++] = 8; break;
            case 'f': out[n++] = 12; break;
            case 'n': out[n++] = 10; break;
            case 'r': out[n++] = 13; break;
            case 't': out[n++] = 9; break;
            case 'v': out[n++] = 11; break;
            case 'x': {
                if (i + 2 >= L) return -1;
                int h = hexval(v[i + 1]), l = hexval(v[i + 2]);
                if (h < 0 || l < 0) return -1;
                out[n++] = (uint8_t)(h << 4 | l);
                i += 2;
                break;
            }
            default: return -1;
            }
        }
        return (long)n;
    }
    memcpy(out, v, L);
    return (long)L;
}

static int parse_i64(const char *s, int64_t *out) {
    char *e;
    while (*s == ' ') s++;
    if (!*s) return -1;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    while (*e == ' ') e++;
    if (errno || *e) return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
    char *e;
    while (*s == ' ') s++;
    if (!*s || *s == '-') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    while (*e == ' ') e++;
    if (errno || *e) return -1;
    *out = v;
    return 0;
}

// numeric variation: "initial=..,rate=..,min=..,max=..,wrap=.."
static int parse_numeric(const char *v, uint8_t tag, struct numeric *nm, char *why, size_t whylen) {
    nm->initial = 0; nm->rate = 1; nm->min = 0;
    nm->max = tag == 0x46 ? 18446744073709551615.0L : 4294967295.0L;
    nm->wrap = 0;
    int have_initial = 0;
    const char *p = v;
    for (int guard = 0; *p && guard < 64; guard++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[128];
        if (len >= sizeof item) { snprintf(why, whylen, "numeric: option too long"); return -1; }
        memcpy(item, p, len);
        item[len] = 0;
        char *eq = strchr(item, '=');
        if (!eq) { snprintf(why, whylen, "numeric: '%s' is not key=value", item); return -1; }
        *eq = 0;
        char *end;
        errno = 0;
        long double x = strtold(eq + 1, &end);
        if (errno || end == eq + 1 || *end) { snprintf(why, whylen, "numeric: bad number for %s", item); return -1; }
        if (!strcmp(item, "initial")) { nm->initial = x; have_initial = 1; }
        else if (!strcmp(item, "rate")) nm->rate = x;
        else if (!strcmp(item, "min")) nm->min = x;
        else if (!strcmp(item, "max")) nm->max = x;
        else if (!strcmp(item, "wrap")) nm->wrap = 1;
        else { snprintf(why, whylen, "numeric: option %s not supported here (initial rate min max wrap)", item); return -1; }
        p = comma ? comma + 1 : p + len;
    }
    if (!have_initial) nm->initial = nm->min;
    if (nm->max < nm->min) { snprintf(why, whylen, "numeric: max < min"); return -1; }
    return 0;
}

static const uint32_t SYSNAME_ARCS[] = {1, 3, 6, 1, 2, 1, 1, 5, 0};

static void load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) die("%s: cannot seek", path);
    long size = ftell(f);
    if (size < 0 || size > (1L << 30)) die("%s: size %ld (at most 1 GiB)", path, size);
    rewind(f);
    char *buf = xrealloc(NULL, (size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) die("%s: read error", path);
    fclose(f);
    buf[size] = 0;

    size_t nlines = 0, cap = 0;
    size_t lineno = 0;
    char *p = buf, *end = buf + size;
    uint32_t tmp[MAX_ARCS];
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        char *ln = p;
        p = nl ? nl + 1 : end;
        // the line is stripped of white space at both ends, as snmpsim does
        while (le > ln && (le[-1] == ' ' || le[-1] == '\t' || le[-1] == '\r' || le[-1] == '\v' || le[-1] == '\f')) le--;
        *le = 0;
        while (*ln == ' ' || *ln == '\t' || *ln == '\v' || *ln == '\f') ln++;
        if (!*ln || *ln == '#') continue;
        char *b1 = strchr(ln, '|');
        char *b2 = b1 ? strchr(b1 + 1, '|') : NULL;
        if (!b2) die("%s:%zu: not OID|TAG|VALUE", path, lineno);
        *b1 = 0;
        *b2 = 0;
        int n = parse_dotted(ln, tmp, MAX_ARCS);
        if (n < 0 || !valid_oid(tmp, n)) die("%s:%zu: bad OID '%s'", path, lineno, ln);
        if (nlines == cap) { cap = cap ? cap * 2 : 4096; g_lines = xrealloc(g_lines, cap * sizeof *g_lines); }
        size_t off = arcs_reserve((size_t)n);
        memcpy(g_arcs + off, tmp, (size_t)n * sizeof *tmp);
        g_narcs_used += (size_t)n;
        g_lines[nlines++] = (struct line){(uint32_t)off, (uint16_t)n, lineno, b1 + 1, b2 + 1};
    }
    if (nlines == 0) die("%s: no records", path);
    qsort(g_lines, nlines, sizeof *g_lines, cmp_lines);
    g_recs = xrealloc(NULL, nlines * sizeof *g_recs);
    uint8_t *vbuf = xrealloc(NULL, (size_t)size + 64);
    uint8_t *enc = xrealloc(NULL, (size_t)size + 5 * MAX_ARCS + 64);
    for (size_t i = 0; i < nlines; i++) {
        struct line *L = &g_lines[i];
        const uint32_t *a = g_arcs + L->arcs;
        if (i > 0 && cmp_lines(&g_lines[i - 1], L) == 0)
            die("%s:%zu: duplicate OID (also on line %zu)", path, L->lineno, g_lines[i - 1].lineno);
        // tag: digits, optional x/e, optional :module
        char *tag = L->tag, *module = strchr(tag, ':');
        if (module) *module++ = 0;
        size_t tl = strlen(tag);
        char encoding = 0;
        if (tl > 0 && (tag[tl - 1] == 'x' || tag[tl - 1] == 'e')) { encoding = tag[tl - 1]; tag[--tl] = 0; }
        int64_t tnum;
        if (parse_i64(tag, &tnum) != 0) die("%s:%zu: bad tag '%s'", path, L->lineno, L->tag);
        uint8_t t;
        switch (tnum) {
        case 2: case 4: case 5: case 6: case 64: case 65: case 66: case 67: case 68: case 70:
        case 128: case 129: case 130: t = (uint8_t)tnum; break;
        default: die("%s:%zu: unsupported tag %lld", path, L->lineno, (long long)tnum);
        }
        struct rec *r = &g_recs[i];
        memset(r, 0, sizeof *r);
        r->arcs = L->arcs;
        r->narcs = L->narcs;
        r->tag = t;
        // the OID TLV
        uint8_t oidc[5 * MAX_ARCS + 8];
        size_t oc = oid_content(oidc, a, L->narcs);
        size_t ol = 1 + len_size(oc) + oc;
        uint8_t value[16];
        size_t vl = 0;
        const uint8_t *vp = value;
        char why[256];
        if (module) {
            if (strcmp(module, "numeric") != 0)
                die("%s:%zu: variation module '%s' not supported (numeric only)", path, L->lineno, module);
            if (t != 2 && t != 65 && t != 66 && t != 67 && t != 70)
                die("%s:%zu: numeric variation on tag %u", path, L->lineno, t);
            if (g_nnum == g_num_cap) { g_num_cap = g_num_cap ? g_num_cap * 2 : 256; g_num = xrealloc(g_num, g_num_cap * sizeof *g_num); }
            if (parse_numeric(L->value, t, &g_num[g_nnum], why, sizeof why) != 0)
                die("%s:%zu: %s", path, L->lineno, why);
            r->kind = K_NUMERIC;
            r->num = (uint32_t)g_nnum++;
        } else if (cfg.sysname_prefix && t == 4 &&
                   cmp_arcs(a, L->narcs, SYSNAME_ARCS, sizeof SYSNAME_ARCS / sizeof *SYSNAME_ARCS) == 0) {
            r->kind = K_SYSNAME;
        } else {
            int64_t iv;
            uint64_t uv;
            switch (t) {
            case 2:
                if (parse_i64(L->value, &iv) != 0 || iv < INT32_MIN || iv > INT32_MAX)
                    die("%s:%zu: bad Integer32 '%s'", path, L->lineno, L->value);
                vl = enc_int(value, 0x02, iv);
                break;
            case 65: case 66: case 67:
                if (parse_u64(L->value, &uv) != 0 || uv > 0xFFFFFFFFu)
                    die("%s:%zu: bad 32-bit unsigned '%s'", path, L->lineno, L->value);
                vl = enc_uint(value, t, uv);
                break;
            case 70:
                if (parse_u64(L->value, &uv) != 0) die("%s:%zu: bad Counter64 '%s'", path, L->lineno, L->value);
                vl = enc_uint(value, t, uv);
                break;
            case 5: case 128: case 129: case 130:
                value[0] = t; value[1] = 0; vl = 2;
                break;
            case 6: {
                uint32_t va[MAX_ARCS];
                int vn = parse_dotted(L->value, va, MAX_ARCS);
                if (vn < 0 || !valid_oid(va, vn)) die("%s:%zu: bad OID value '%s'", path, L->lineno, L->value);
                size_t c = oid_content(vbuf, va, (size_t)vn);
                enc[0] = 0x06;
                size_t h = 1 + put_len(enc + 1, c);
                memcpy(enc + h, vbuf, c);
                vp = enc; vl = h + c;
                break;
            }
            case 64: {
                long n;
                if (encoding == 'x') {
                    n = value_bytes(L->value, 'x', vbuf);
                } else {
                    struct in_addr ia;
                    n = inet_pton(AF_INET, L->value, &ia) == 1 ? 4 : -1;
                    if (n == 4) memcpy(vbuf, &ia, 4);
                }
                if (n != 4) die("%s:%zu: bad IpAddress '%s'", path, L->lineno, L->value);
                enc[0] = 0x40; enc[1] = 4; memcpy(enc + 2, vbuf, 4);
                vp = enc; vl = 6;
                break;
            }
            default: { // 4, 68
                long n = value_bytes(L->value, encoding, vbuf);
                if (n < 0) die("%s:%zu: bad %s value '%s'", path, L->lineno, encoding == 'x' ? "hex" : "escaped", L->value);
                if (n > 65000) die("%s:%zu: value of %ld bytes (at most 65000)", path, L->lineno, n);
                enc[0] = t;
                size_t h = 1 + put_len(enc + 1, (size_t)n);
                memcpy(enc + h, vbuf, (size_t)n);
                vp = enc; vl = h + (size_t)n;
            }
            }
        }
        // varbind: SEQUENCE { OID, value } (dynamic kinds: the value is left out, encoded at send time)
        uint8_t hdr[16];
        size_t content = ol + vl;
        size_t hl = 0;
        hdr[hl++] = 0x30;
        hl += put_len(hdr + hl, content);
        r->vb = (uint32_t)pool_put(hdr, hl);
        uint8_t ot[8];
        size_t otl = 0;
        ot[otl++] = 0x06;
        otl += put_len(ot + otl, oc);
        r->oid = (uint32_t)pool_put(ot, otl);
        pool_put(oidc, oc);
        r->oidlen = (uint16_t)ol;
        if (vl) pool_put(vp, vl);
        r->vblen = (uint32_t)(hl + content);
    }
    g_nrecs = nlines;
    free(vbuf);
    free(enc);
    free(g_lines);
    g_lines = NULL;
    free(buf);
}

// ---------------------------------------------------------------------------------------------
// counters

enum {
    C_RECEIVED, C_GET, C_GETNEXT, C_GETBULK, C_SET, C_OTHER_PDU, C_RESPONSES, C_VARBINDS, C_BYTES,
    C_MALFORMED, C_BAD_VERSION, C_BAD_COMMUNITY, C_OUT_OF_RANGE, C_NONLOCAL, C_TOO_BIG,
    C_BULK_SIZE_CAPPED, C_SEND_ERRORS, C_RECV_ERRORS, C_N
};
static const char *const CNAME[C_N] = {
    "received", "get", "getnext", "getbulk", "set", "other_pdu", "responses", "varbinds", "bytes_out",
    "malformed", "bad_version", "bad_community", "out_of_range", "nonlocal_source", "too_big",
    "bulk_size_capped", "send_errors", "recv_errors"};

// ---------------------------------------------------------------------------------------------
// request handling

struct reqvb {
    uint32_t oid;  // offset of the OID TLV in the request
    uint16_t oidlen;
};

struct worker {
    int fd, id;
    pthread_t th;
    uint64_t c[C_N];          // owned by the thread
    uint64_t pub[C_N];        // published copy (relaxed atomics), read by the main thread
    uint8_t rx[BATCH][RXSZ];
    uint8_t tx[BATCH][TXSZ];
    struct mmsghdr rmsg[BATCH], smsg[BATCH];
    struct iovec riov[BATCH], siov[BATCH];
    struct sockaddr_in rname[BATCH];
    union { char buf[CMSG_SPACE(sizeof(struct in_pktinfo)) + 64]; struct cmsghdr align; } rctl[BATCH];
    union { char buf[CMSG_SPACE(sizeof(struct in_pktinfo))]; struct cmsghdr align; } sctl[BATCH];
    struct reqvb vbs[MAX_REQ_VBS];
    uint32_t pos[MAX_REQ_VBS];
    uint32_t last[MAX_REQ_VBS];
    uint32_t arcs[MAX_ARCS];
    double t;                 // seconds since start, for numeric values (once per batch)
};

static volatile sig_atomic_t g_stop_signal;
static int g_stop; // set by the main thread, read with atomics
static double g_deadline;

struct rd { const uint8_t *p, *end; };

// tag and length; the content must lie within the buffer
static int rd_tl(struct rd *r, uint8_t *tag, size_t *len) {
    if (r->end - r->p < 2) return -1;
    *tag = *r->p++;
    if ((*tag & 0x1f) == 0x1f) return -1;
    uint8_t b = *r->p++;
    size_t l;
    if (b < 0x80) l = b;
    else {
        int nb = b & 0x7f;
        if (nb == 0 || nb > 4 || r->end - r->p < nb) return -1;
        l = 0;
        for (int i = 0; i < nb; i++) l = l << 8 | *r->p++;
    }
    if ((size_t)(r->end - r->p) < l) return -1;
    *len = l;
    return 0;
}

static int rd_int(struct rd *r, int64_t *v) {
    uint8_t tag;
    size_t len;
    if (rd_tl(r, &tag, &len) || tag != 0x02 || len < 1 || len > 8) return -1;
    int64_t x = (int8_t)r->p[0];
    for (size_t i = 1; i < len; i++) x = (int64_t)((uint64_t)x << 8 | r->p[i]);
    r->p += len;
    *v = x;
    return 0;
}

// OID content into arcs; -1 when malformed (empty is allowed: 0 arcs)
static int decode_oid(const uint8_t *p, size_t len, uint32_t *a) {
    int n = 0;
    size_t i = 0;
    while (i < len) {
        uint64_t v = 0;
        int k = 0;
        for (;;) {
            if (i >= len || k >= 5) return -1;
            uint8_t b = p[i++];
            v = v << 7 | (b & 0x7f);
            k++;
            if (!(b & 0x80)) break;
        }
        if (n == 0) {
            if (n + 2 > MAX_ARCS) return -1;
            if (v < 80) { a[0] = (uint32_t)(v / 40); a[1] = (uint32_t)(v % 40); }
            else { if (v - 80 > 0xFFFFFFFFu) return -1; a[0] = 2; a[1] = (uint32_t)(v - 80); }
            n = 2;
        } else {
            if (n >= MAX_ARCS || v > 0xFFFFFFFFu) return -1;
            a[n++] = (uint32_t)v;
        }
    }
    return n;
}

static size_t lower_bound(const uint32_t *a, int n) { // first record >= a
    size_t lo = 0, hi = g_nrecs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct rec *r = &g_recs[mid];
        if (cmp_arcs(g_arcs + r->arcs, r->narcs, a, (size_t)n) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static size_t upper_bound(const uint32_t *a, int n) { // first record > a
    size_t i = lower_bound(a, n);
    if (i < g_nrecs && cmp_arcs(g_arcs + g_recs[i].arcs, g_recs[i].narcs, a, (size_t)n) == 0) i++;
    return i;
}

static int prefix_of(const uint32_t *p, size_t np, const uint32_t *a, size_t na) {
    return np <= na && memcmp(p, a, np * sizeof *p) == 0;
}

// GET miss: noSuchInstance (0x81) or noSuchObject (0x80), see the top
static uint8_t miss_kind(const uint32_t *a, int n, size_t idx) {
    if (idx < g_nrecs) {
        const struct rec *r = &g_recs[idx];
        if (r->narcs > n && prefix_of(a, (size_t)n, g_arcs + r->arcs, r->narcs)) return 0x81;
    }
    for (size_t c = idx > 0 ? idx - 1 : idx; c <= idx && c < g_nrecs; c++) {
        const struct rec *r = &g_recs[c];
        if (n >= 2 && r->narcs == n && prefix_of(a, (size_t)n - 1, g_arcs + r->arcs, r->narcs)) return 0x81;
    }
    return 0x80;
}

// skips records GETNEXT must not return: exceptions, and Counter64 in v1
static size_t next_ok(size_t i, int v1) {
    while (i < g_nrecs && (g_recs[i].tag >= 0x80 || (v1 && g_recs[i].tag == 0x46))) i++;
    return i;
}

struct out {
    uint8_t *p;      // start of the varbind content
    size_t used, budget;
    uint32_t nvb;
};

static size_t numeric_value(uint8_t *o, const struct rec *r, double t) {
    const struct numeric *nm = &g_num[r->num];
    long double x = nm->initial + nm->rate * (long double)t;
    // floor into a 128-bit integer (|x| < 2^100 assumed; clamp beyond)
    if (x > 1e30L) x = 1e30L;
    if (x < -1e30L) x = -1e30L;
    __int128 v = (__int128)x;
    if ((long double)v > x) v--;
    __int128 mn = (__int128)nm->min, mx = (__int128)nm->max;
    if (v < mn) v = mn;
    else if (v > mx) {
        if (nm->wrap) v = mn + (v - mn) % (mx - mn + 1);
        else v = mx;
    }
    switch (r->tag) {
    case 0x02:
        if (v < INT32_MIN) v = INT32_MIN;
        if (v > INT32_MAX) v = INT32_MAX;
        return enc_int(o, 0x02, (int64_t)v);
    case 0x46:
        if (v < 0) v = 0;
        if (v > (__int128)UINT64_MAX) v = UINT64_MAX;
        return enc_uint(o, 0x46, (uint64_t)v);
    default:
        if (v < 0) v = 0;
        if (v > 0xFFFFFFFF) v = 0xFFFFFFFF;
        return enc_uint(o, r->tag, (uint64_t)v);
    }
}

// one record's varbind; 0 when it does not fit
static int emit_rec(struct out *o, size_t i, uint32_t agent, double t) {
    const struct rec *r = &g_recs[i];
    if (r->kind == K_STATIC && r->vblen > o->budget - o->used) return 0;
    uint8_t *d = o->p + o->used;
    if (r->kind == K_STATIC) {
        memcpy(d, g_pool + r->vb, r->vblen);
        o->used += r->vblen;
    } else {
        uint8_t val[16 + MAX_PREFIX];
        size_t vl;
        if (r->kind == K_NUMERIC) vl = numeric_value(val, r, t);
        else {
            char s[MAX_PREFIX + 16];
            int sl = snprintf(s, sizeof s, "%s%u", cfg.sysname_prefix, agent);
            if (sl < 0) sl = 0;
            if ((size_t)sl >= sizeof s) sl = (int)sizeof s - 1;
            val[0] = 0x04;
            vl = 1 + put_len(val + 1, (size_t)sl);
            memcpy(val + vl, s, (size_t)sl);
            vl += (size_t)sl;
        }
        size_t content = r->oidlen + vl;
        size_t total = 1 + len_size(content) + content;
        if (total > o->budget - o->used) return 0;
        d[0] = 0x30;
        size_t h = 1 + put_len(d + 1, content);
        memcpy(d + h, g_pool + r->oid, r->oidlen);
        memcpy(d + h + r->oidlen, val, vl);
        o->used += total;
    }
    o->nvb++;
    return 1;
}

// an exception varbind (noSuchObject 0x80, noSuchInstance 0x81, endOfMibView 0x82) for an OID TLV
static int emit_exc(struct out *o, const uint8_t *oidtlv, size_t oidlen, uint8_t exc) {
    size_t content = oidlen + 2;
    size_t total = 1 + len_size(content) + content;
    if (total > o->budget - o->used) return 0;
    uint8_t *d = o->p + o->used;
    d[0] = 0x30;
    size_t h = 1 + put_len(d + 1, content);
    memcpy(d + h, oidtlv, oidlen);
    d[h + oidlen] = exc;
    d[h + oidlen + 1] = 0;
    o->used += total;
    o->nvb++;
    return 1;
}

// writes TLV header/int backwards in front of p
static uint8_t *back_len(uint8_t *p, size_t len) {
    uint8_t t[4];
    size_t n = put_len(t, len);
    p -= n;
    memcpy(p, t, n);
    return p;
}
static uint8_t *back_int(uint8_t *p, int64_t v) {
    uint8_t t[10];
    size_t n = enc_int(t, 0x02, v);
    p -= n;
    memcpy(p, t, n);
    return p;
}

// Handles one datagram; returns the response length (its start in *start) or 0 to send nothing.
static size_t handle(struct worker *w, const uint8_t *req, size_t reqlen, uint32_t agent, uint8_t *txbuf,
                     uint8_t **start) {
    struct rd r = {req, req + reqlen}, m, pdu, vl;
    uint8_t tag, ptag;
    size_t len;
    int64_t version, reqid, a1, a2;
    uint64_t *c = w->c;

    if (rd_tl(&r, &tag, &len) || tag != 0x30) goto malformed;
    m.p = r.p;
    m.end = r.p + len;
    if (rd_int(&m, &version)) goto malformed;
    if (version != 0 && version != 1) { c[C_BAD_VERSION]++; return 0; }
    if (rd_tl(&m, &tag, &len) || tag != 0x04) goto malformed;
    const uint8_t *comm = m.p;
    size_t commlen = len;
    m.p += len;
    if (rd_tl(&m, &ptag, &len)) goto malformed;
    pdu.p = m.p;
    pdu.end = m.p + len;
    if (rd_int(&pdu, &reqid) || rd_int(&pdu, &a1) || rd_int(&pdu, &a2)) goto malformed;
    if (rd_tl(&pdu, &tag, &len) || tag != 0x30) goto malformed;
    vl.p = pdu.p;
    vl.end = pdu.p + len;
    const uint8_t *vlist = vl.p;
    size_t vlistlen = len;
    size_t nvb = 0;
    for (size_t guard = 0; vl.p < vl.end; guard++) {
        struct rd vb;
        if (guard >= MAX_REQ_VBS) goto malformed;
        if (rd_tl(&vl, &tag, &len) || tag != 0x30) goto malformed;
        vb.p = vl.p;
        vb.end = vl.p + len;
        vl.p += len;
        const uint8_t *o = vb.p;
        if (rd_tl(&vb, &tag, &len) || tag != 0x06 || len > 5 * MAX_ARCS) goto malformed;
        size_t ol = (size_t)(vb.p + len - o);
        vb.p += len;
        if (rd_tl(&vb, &tag, &len)) goto malformed; // the value, ignored
        vb.p += len;
        if (vb.p != vb.end) goto malformed;
        w->vbs[nvb].oid = (uint32_t)(o - req);
        w->vbs[nvb].oidlen = (uint16_t)ol;
        nvb++;
    }
    // the community, then the PDU type
    if (commlen != cfg.community_len || memcmp(comm, cfg.community, commlen) != 0) {
        c[C_BAD_COMMUNITY]++;
        return 0;
    }
    int v1 = version == 0;
    int kind; // counted once the request is known to be well-formed
    switch (ptag) {
    case 0xA0: kind = C_GET; break;
    case 0xA1: kind = C_GETNEXT; break;
    case 0xA5: if (v1) goto malformed; kind = C_GETBULK; break;
    case 0xA3: kind = C_SET; break;
    default: c[C_OTHER_PDU]++; return 0;
    }
    if (reqid < INT32_MIN || reqid > INT32_MAX) goto malformed;

    // the varbinds, after a header of at most `overhead` bytes
    size_t overhead = 4 + 3 + (1 + len_size(commlen) + commlen) + 4 + 6 + 3 + 4 + 4;
    struct out o = {txbuf + HEADROOM, 0, cfg.max_size > overhead ? cfg.max_size - overhead : 0, 0};
    int64_t errstat = 0, erridx = 0;
    int echo = 0; // error response with the request's varbinds
    double t = w->t;

    // decodes request varbind i's OID into w->arcs; -1 when malformed
#define OIDP(i) (req + w->vbs[i].oid)
#define DECODE(i, n)                                                                              \
    do {                                                                                          \
        const uint8_t *op_ = OIDP(i);                                                             \
        size_t h_ = 2 + ((op_[1] & 0x80) ? (op_[1] & 0x7f) : 0);                                  \
        n = decode_oid(op_ + h_, w->vbs[i].oidlen - h_, w->arcs);                                 \
        if (n < 0) goto malformed;                                                                \
    } while (0)

    if (ptag == 0xA3) { // SET: read-only agent
        errstat = v1 ? 2 : 6; // noSuchName / noAccess
        erridx = nvb ? 1 : 0;
        echo = 1;
    } else if (ptag == 0xA0) {
        for (size_t i = 0; i < nvb; i++) {
            int n;
            DECODE(i, n);
            size_t idx = lower_bound(w->arcs, n);
            int hit = idx < g_nrecs && cmp_arcs(g_arcs + g_recs[idx].arcs, g_recs[idx].narcs, w->arcs, (size_t)n) == 0;
            if (v1 && (!hit || g_recs[idx].tag >= 0x80 || g_recs[idx].tag == 0x46)) {
                errstat = 2; erridx = (int64_t)i + 1; echo = 1;
                break;
            }
            int ok = hit ? emit_rec(&o, idx, agent, t)
                         : emit_exc(&o, OIDP(i), w->vbs[i].oidlen, miss_kind(w->arcs, n, idx));
            if (!ok) { errstat = 1; break; }
        }
    } else if (ptag == 0xA1) {
        for (size_t i = 0; i < nvb; i++) {
            int n;
            DECODE(i, n);
            size_t idx = next_ok(upper_bound(w->arcs, n), v1);
            if (idx >= g_nrecs && v1) {
                errstat = 2; erridx = (int64_t)i + 1; echo = 1;
                break;
            }
            int ok = idx < g_nrecs ? emit_rec(&o, idx, agent, t) : emit_exc(&o, OIDP(i), w->vbs[i].oidlen, 0x82);
            if (!ok) { errstat = 1; break; }
        }
    } else { // GETBULK
        int64_t nr = a1 < 0 ? 0 : a1 > (int64_t)nvb ? (int64_t)nvb : a1;
        int64_t reps = a2 < 0 ? 0 : a2;
        size_t R = nvb - (size_t)nr;
        if (cfg.max_bulk > 0 && R > 0) {
            int64_t room = cfg.max_bulk > nr ? (cfg.max_bulk - nr) / (int64_t)R : 0;
            if (reps > room) reps = room;
        }
        for (size_t i = 0; i < (size_t)nr; i++) {
            int n;
            DECODE(i, n);
            size_t idx = next_ok(upper_bound(w->arcs, n), 0);
            int ok = idx < g_nrecs ? emit_rec(&o, idx, agent, t) : emit_exc(&o, OIDP(i), w->vbs[i].oidlen, 0x82);
            if (!ok) { errstat = 1; break; }
        }
        if (!errstat && R > 0 && reps > 0) {
            for (size_t j = 0; j < R; j++) {
                size_t i = (size_t)nr + j;
                int n;
                DECODE(i, n);
                w->pos[j] = (uint32_t)next_ok(upper_bound(w->arcs, n), 0);
                w->last[j] = UINT32_MAX;
            }
            int capped = 0;
            for (int64_t rep = 0; rep < reps && !capped; rep++) {
                size_t ended = 0;
                for (size_t j = 0; j < R; j++) {
                    size_t p = w->pos[j];
                    int ok;
                    if (p < g_nrecs) {
                        ok = emit_rec(&o, p, agent, t);
                        if (ok) { w->last[j] = (uint32_t)p; w->pos[j] = (uint32_t)next_ok(p + 1, 0); }
                    } else {
                        // endOfMibView, named after the last OID this column returned, else the request's
                        size_t q = w->last[j];
                        ok = q < g_nrecs ? emit_exc(&o, g_pool + g_recs[q].oid, g_recs[q].oidlen, 0x82)
                                         : emit_exc(&o, OIDP(nr + j), w->vbs[nr + j].oidlen, 0x82);
                        ended++;
                    }
                    if (!ok) { capped = 1; c[C_BULK_SIZE_CAPPED]++; break; }
                }
                if (ended == R) break;
            }
        }
    }
#undef DECODE
#undef OIDP

    c[kind]++;
    if (errstat == 1) { // tooBig: no varbinds
        c[C_TOO_BIG]++;
        o.used = 0;
        o.nvb = 0;
        erridx = 0;
    } else if (echo) {
        if (vlistlen > o.budget) { c[C_TOO_BIG]++; errstat = 1; erridx = 0; o.used = 0; o.nvb = 0; }
        else { memcpy(o.p, vlist, vlistlen); o.used = vlistlen; o.nvb = (uint32_t)nvb; }
    }

    // the header, backwards: varbind list, error-index, error-status, request-id, PDU, community,
    // version, message
    uint8_t *end = o.p + o.used, *p = o.p;
    p = back_len(p, o.used);
    *--p = 0x30;
    p = back_int(p, erridx);
    p = back_int(p, errstat);
    p = back_int(p, reqid);
    p = back_len(p, (size_t)(end - p));
    *--p = 0xA2;
    p -= commlen;
    memcpy(p, comm, commlen);
    p = back_len(p, commlen);
    *--p = 0x04;
    p = back_int(p, version);
    p = back_len(p, (size_t)(end - p));
    *--p = 0x30;
    *start = p;
    c[C_VARBINDS] += o.nvb;
    return (size_t)(end - p);

malformed:
    c[C_MALFORMED]++;
    return 0;
}

static void publish(struct worker *w) {
    for (int i = 0; i < C_N; i++) __atomic_store_n(&w->pub[i], w->c[i], __ATOMIC_RELAXED);
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < BATCH; i++) {
        w->riov[i].iov_base = w->rx[i];
        w->riov[i].iov_len = RXSZ;
    }
    // bounded: ends at the deadline (recvmmsg returns at least every 100 ms: SO_RCVTIMEO)
    while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
        double now = now_mono();
        if (now >= g_deadline) break;
        for (int i = 0; i < BATCH; i++) {
            struct msghdr *h = &w->rmsg[i].msg_hdr;
            h->msg_name = &w->rname[i];
            h->msg_namelen = sizeof w->rname[i];
            h->msg_iov = &w->riov[i];
            h->msg_iovlen = 1;
            h->msg_control = w->rctl[i].buf;
            h->msg_controllen = sizeof w->rctl[i].buf;
            h->msg_flags = 0;
            w->rmsg[i].msg_len = 0;
        }
        int n = recvmmsg(w->fd, w->rmsg, BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) w->c[C_RECV_ERRORS]++;
            publish(w);
            continue;
        }
        w->t = now_mono() - g_start;
        int ns = 0;
        for (int i = 0; i < n; i++) {
            struct msghdr *h = &w->rmsg[i].msg_hdr;
            w->c[C_RECEIVED]++;
            if (h->msg_flags & MSG_TRUNC) { w->c[C_MALFORMED]++; continue; }
            struct in_addr dst = {0};
            int have = 0;
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
                if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
                    struct in_pktinfo pi;
                    memcpy(&pi, CMSG_DATA(cm), sizeof pi);
                    dst = pi.ipi_addr;
                    have = 1;
                }
            }
            uint32_t src = ntohl(w->rname[i].sin_addr.s_addr);
            if (h->msg_namelen < sizeof(struct sockaddr_in) || w->rname[i].sin_family != AF_INET ||
                (src >> 24) != 127) { w->c[C_NONLOCAL]++; continue; }
            uint32_t d = ntohl(dst.s_addr);
            uint32_t b3 = (d >> 8) & 0xff, b4 = d & 0xff;
            if (!have || (d >> 16) != 0x7F14 || b4 < 1 || b4 > 250 || b3 * 250 + b4 - 1 >= (uint32_t)cfg.agents) {
                w->c[C_OUT_OF_RANGE]++;
                continue;
            }
            uint32_t agent = b3 * 250 + b4 - 1;
            uint8_t *start;
            size_t len = handle(w, w->rx[i], w->rmsg[i].msg_len, agent, w->tx[ns], &start);
            if (!len) continue;
            struct msghdr *s = &w->smsg[ns].msg_hdr;
            memset(s, 0, sizeof *s);
            w->siov[ns].iov_base = start;
            w->siov[ns].iov_len = len;
            s->msg_name = &w->rname[i];
            s->msg_namelen = sizeof w->rname[i];
            s->msg_iov = &w->siov[ns];
            s->msg_iovlen = 1;
            memset(w->sctl[ns].buf, 0, sizeof w->sctl[ns].buf);
            s->msg_control = w->sctl[ns].buf;
            s->msg_controllen = sizeof w->sctl[ns].buf;
            struct cmsghdr *cm = CMSG_FIRSTHDR(s);
            cm->cmsg_level = IPPROTO_IP;
            cm->cmsg_type = IP_PKTINFO;
            cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
            struct in_pktinfo pi;
            memset(&pi, 0, sizeof pi);
            pi.ipi_spec_dst = dst;
            memcpy(CMSG_DATA(cm), &pi, sizeof pi);
            ns++;
        }
        // send; a datagram that fails is counted and skipped (at most 2 * BATCH + 4 attempts)
        int off = 0;
        for (int attempt = 0; off < ns && attempt < 2 * BATCH + 4; attempt++) {
            int k = sendmmsg(w->fd, w->smsg + off, (unsigned)(ns - off), MSG_DONTWAIT);
            if (k < 0) {
                if (errno == EINTR) continue;
                w->c[C_SEND_ERRORS]++;
                off++;
            } else {
                for (int j = off; j < off + k; j++) {
                    w->c[C_RESPONSES]++;
                    w->c[C_BYTES] += w->smsg[j].msg_len;
                }
                off += k;
            }
        }
        if (off < ns) w->c[C_SEND_ERRORS] += (uint64_t)(ns - off);
        publish(w);
    }
    publish(w);
    return NULL;
}

// ---------------------------------------------------------------------------------------------

static struct worker *g_workers[MAX_THREADS];

static void print_counters(const char *what) {
    uint64_t sum[C_N] = {0};
    for (int t = 0; t < cfg.threads; t++)
        for (int i = 0; i < C_N; i++) sum[i] += __atomic_load_n(&g_workers[t]->pub[i], __ATOMIC_RELAXED);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double us = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6, ss = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    char line[2048];
    int n = snprintf(line, sizeof line, "snmpresponder: %s uptime_s=%.1f", what, now_mono() - g_start);
    for (int i = 0; i < C_N && n > 0 && (size_t)n < sizeof line; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %s=%llu", CNAME[i], (unsigned long long)sum[i]);
    if (n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, " cpu_user_s=%.2f cpu_sys_s=%.2f varbinds_per_cpu_s=%.0f",
                 us, ss, us + ss > 0 ? sum[C_VARBINDS] / (us + ss) : 0.0);
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static void on_signal(int sig) { g_stop_signal = sig; }

static void usage(void) {
    fprintf(stderr,
            "usage: snmpresponder --data FILE.snmprec [--agents N] [--port P] [--community S] [--threads T]\n"
            "                     [--seconds S] [--max-bulk N] [--max-size B] [--pidfile F]\n"
            "                     [--sysname-prefix S] [--user NAME] [--label S]\n");
    exit(2);
}

static long num_arg(const char *opt, const char *v, long lo, long hi) {
    char *e;
    errno = 0;
    long x = strtol(v, &e, 10);
    if (errno || e == v || *e || x < lo || x > hi) die("%s: an integer %ld..%ld", opt, lo, hi);
    return x;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED() do { if (!v) usage(); i++; } while (0)
        if (!strcmp(a, "--data")) { NEED(); cfg.data = v; }
        else if (!strcmp(a, "--agents")) { NEED(); cfg.agents = (int)num_arg(a, v, 1, MAX_AGENTS); }
        else if (!strcmp(a, "--port")) { NEED(); cfg.port = (int)num_arg(a, v, 1, 65535); }
        else if (!strcmp(a, "--community")) { NEED(); cfg.community = v; }
        else if (!strcmp(a, "--threads")) { NEED(); cfg.threads = (int)num_arg(a, v, 1, MAX_THREADS); }
        else if (!strcmp(a, "--seconds")) {
            NEED();
            char *e;
            cfg.seconds = strtod(v, &e);
            if (e == v || *e || !(cfg.seconds > 0 && cfg.seconds <= 86400)) die("--seconds: 0 < S <= 86400");
        }
        else if (!strcmp(a, "--max-bulk")) { NEED(); cfg.max_bulk = (int)num_arg(a, v, 0, 1000000); }
        else if (!strcmp(a, "--max-size")) { NEED(); cfg.max_size = (size_t)num_arg(a, v, 484, 65507); }
        else if (!strcmp(a, "--pidfile")) { NEED(); cfg.pidfile = v; }
        else if (!strcmp(a, "--sysname-prefix")) { NEED(); cfg.sysname_prefix = v; }
        else if (!strcmp(a, "--user")) { NEED(); cfg.user = v; }
        else if (!strcmp(a, "--label")) { NEED(); }
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage();
        else if (a[0] != '-' && !cfg.data) cfg.data = a;
        else usage();
#undef NEED
    }
    if (!cfg.data) usage();
    cfg.community_len = strlen(cfg.community);
    if (cfg.community_len > MAX_COMMUNITY) die("--community: at most %d bytes", MAX_COMMUNITY);
    if (cfg.sysname_prefix) {
        cfg.sysname_prefix_len = strlen(cfg.sysname_prefix);
        if (cfg.sysname_prefix_len > MAX_PREFIX) die("--sysname-prefix: at most %d bytes", MAX_PREFIX);
    }
    g_start = now_mono();
    g_deadline = g_start + cfg.seconds;
    load(cfg.data);

    // the sockets
    for (int t = 0; t < cfg.threads; t++) {
        struct worker *w = calloc(1, sizeof *w);
        if (!w) die("out of memory");
        w->id = t;
        w->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (w->fd < 0) die("socket: %s", strerror(errno));
        int one = 1, buf = 4 << 20;
        if (setsockopt(w->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
            setsockopt(w->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one))
            die("setsockopt: %s", strerror(errno));
        if (setsockopt(w->fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf))
            setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
        if (setsockopt(w->fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf))
            setsockopt(w->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        struct timeval tv = {0, 100000};
        setsockopt(w->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)cfg.port);
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
        if (bind(w->fd, (struct sockaddr *)&sa, sizeof sa))
            die("bind 0.0.0.0:%d: %s", cfg.port, strerror(errno));
        g_workers[t] = w;
    }
    if (cfg.pidfile) {
        FILE *pf = fopen(cfg.pidfile, "w");
        if (!pf || fprintf(pf, "%d\n", (int)getpid()) < 0 || fclose(pf)) die("%s: cannot write", cfg.pidfile);
    }
    if (cfg.user) {
        struct passwd *pw = getpwnam(cfg.user);
        if (!pw) die("--user %s: no such user", cfg.user);
        if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
            die("--user %s: %s", cfg.user, strerror(errno));
    }

    // signals: handled by the main thread only
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (int t = 0; t < cfg.threads; t++)
        if (pthread_create(&g_workers[t]->th, NULL, worker_main, g_workers[t])) die("pthread_create failed");
    uint32_t last = (uint32_t)cfg.agents - 1;
    size_t dyn = 0;
    for (size_t i = 0; i < g_nrecs; i++) dyn += g_recs[i].kind != K_STATIC;
    fprintf(stderr,
            "snmpresponder: ready pid=%d agents=%d (127.20.0.1 .. 127.20.%u.%u) port=%d threads=%d records=%zu "
            "dynamic=%zu encoded_bytes=%zu community=%s max_size=%zu max_bulk=%d seconds=%g data=%s\n",
            (int)getpid(), cfg.agents, last / 250, last % 250 + 1, cfg.port, cfg.threads, g_nrecs, dyn,
            g_pool_used, cfg.community, cfg.max_size, cfg.max_bulk, cfg.seconds, cfg.data);
    fflush(stderr);

    const char *why = "time limit";
    // bounded: at most seconds / 0.2 + 1 rounds
    while (now_mono() < g_deadline) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGUSR1) { print_counters("counters"); continue; }
        if (sig == SIGTERM || sig == SIGINT) { why = sig == SIGTERM ? "SIGTERM" : "SIGINT"; break; }
        if (g_stop_signal) { why = "signal"; break; }
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
    for (int t = 0; t < cfg.threads; t++) pthread_join(g_workers[t]->th, NULL);
    char what[64];
    snprintf(what, sizeof what, "exit reason=%s", why);
    print_counters(what);
    return 0;
}

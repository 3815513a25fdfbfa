// trapgen: a cheap SNMPv2c trap load generator for capacity benchmarks. Sends hand-encoded (BER)
// SNMPv2-Trap PDUs at a fixed rate for a fixed time (or up to a count) with sendmmsg, then prints what it
// sent as one JSON line. Only loopback: the destination must be in 127.0.0.0/8 or ::1.
//
// Every trap is IF-MIB's linkDown or linkUp (alternating with the request-id), as a device sends it:
//   version 1 (v2c), community (default "public"), SNMPv2-Trap-PDU (tag 0xA7) {
//     request-id   FIRST_ID + i: unique and contiguous, so traps that landed can be counted and matched
//     error-status 0, error-index 0
//     varbinds     sysUpTime.0 = TimeTicks (grows with time), snmpTrapOID.0 = linkDown | linkUp,
//                  ifIndex.N = N, ifAdminStatus.N = up(1), ifOperStatus.N = down(2) | up(1)
//   }
// with N = 1 + i % 48: the request-id, the interface and with it the varbinds' values vary per trap.
// Encoding is minimal BER (definite lengths, shortest integers), about 130 bytes a trap.
// Sources: as sysloggen: -s N sends from N sockets in turn, bound to 127.0.1.1, 127.0.1.2, … (a distinct
// agent address each), or with -P from one address on N ports (always so for ::1).
// Build: cc -O2 -I Benchmarks -o trapgen Benchmarks/trapgen/trapgen.c
// Usage: trapgen [-d ADDR] [-c COMMUNITY] [-s N] [-P] [-n COUNT] [-q FIRST_ID] PORT TRAPS_PER_SECOND SECONDS
#include "loadgen.h"

#define MAXPKT 512

static void usage(void) {
    fprintf(stderr, "usage: trapgen [-d ADDR] [-c COMMUNITY] [-s N] [-P] [-n COUNT] [-q FIRST_ID]\n"
                    "               PORT TRAPS_PER_SECOND SECONDS\n"
                    "  -d ADDR      destination, 127.0.0.0/8 or ::1 only (default 127.0.0.1)\n"
                    "  -c COMMUNITY v2c community (default public)\n"
                    "  -s N         send from N sockets in turn: 127.0.1.1, 127.0.1.2, ... (default 1: 127.0.0.1)\n"
                    "  -P           with -s: one address, N source ports (always so for ::1)\n"
                    "  -n COUNT     stop after COUNT traps (SECONDS still bounds the run)\n"
                    "  -q FIRST_ID  request-id of the first trap (default 1; ids stay below 2^31)\n");
    exit(2);
}

// ---- BER, written backwards: each call prepends its encoding before *p and returns its length ----

struct ber { uint8_t *p, *lo; };

static void prepend(struct ber *w, const void *src, size_t n) {
    if ((size_t)(w->p - w->lo) < n) { fprintf(stderr, "trapgen: packet too large\n"); exit(1); }
    w->p -= n;
    memcpy(w->p, src, n);
}

static void byte(struct ber *w, uint8_t b) { prepend(w, &b, 1); }

// Tag and definite length of content already written (len bytes).
static size_t header(struct ber *w, uint8_t tag, size_t len) {
    size_t n = 1;
    if (len < 0x80) { byte(w, (uint8_t)len); n++; }
    else if (len < 0x100) { byte(w, (uint8_t)len); byte(w, 0x81); n += 2; }
    else { byte(w, (uint8_t)len); byte(w, (uint8_t)(len >> 8)); byte(w, 0x82); n += 3; }
    byte(w, tag);
    return len + n;
}

// Signed integer, shortest two's complement (X.690 8.3.2).
static size_t integer(struct ber *w, uint8_t tag, int64_t v) {
    size_t n = 0;
    do {
        byte(w, (uint8_t)v);
        n++;
        v >>= 8;  // arithmetic shift
    } while (!((v == 0 && !(w->p[0] & 0x80)) || (v == -1 && (w->p[0] & 0x80))));
    return header(w, tag, n);
}

// Unsigned (TimeTicks, Counter32, Gauge32): as a non-negative integer.
static size_t unsigned32(struct ber *w, uint8_t tag, uint32_t v) { return integer(w, tag, (int64_t)v); }

static size_t octets(struct ber *w, uint8_t tag, const void *s, size_t n) {
    prepend(w, s, n);
    return header(w, tag, n);
}

// One sub-identifier, base 128, high bit set on all but its last byte.
static size_t subid(struct ber *w, uint32_t v) {
    size_t n = 1;
    byte(w, v & 0x7f);
    for (v >>= 7; v; v >>= 7, n++) byte(w, 0x80 | (v & 0x7f));
    return n;
}

// OBJECT IDENTIFIER from its arcs (at least two; the first two share one sub-identifier).
static size_t oid(struct ber *w, const uint32_t *arcs, int count) {
    size_t n = 0;
    for (int i = count - 1; i >= 2; i--) n += subid(w, arcs[i]);
    n += subid(w, arcs[0] * 40 + arcs[1]);
    return header(w, 0x06, n);
}

#define ARCS(...) (const uint32_t[]){__VA_ARGS__}, (int)(sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

// One varbind: SEQUENCE { name, value } where the value is already written (vlen bytes).
static size_t varbind_close(struct ber *w, size_t vlen, const uint32_t *name, int count) {
    size_t len = vlen + oid(w, name, count);
    return header(w, 0x30, len);
}

static size_t vb_integer(struct ber *w, const uint32_t *name, int count, int64_t v) {
    return varbind_close(w, integer(w, 0x02, v), name, count);
}

// Encodes trap number i into buf (MAXPKT bytes) and returns where it starts and its length.
static uint8_t *encode(uint8_t *buf, const char *community, int32_t request_id, uint32_t uptime, int ifindex,
                       int down, size_t *out_len) {
    struct ber w = {buf + MAXPKT, buf};
    uint32_t ix = (uint32_t)ifindex;
    // Varbinds, last first.
    size_t vbs = 0;
    vbs += vb_integer(&w, ARCS(1, 3, 6, 1, 2, 1, 2, 2, 1, 8, ix), down ? 2 : 1);  // ifOperStatus.N
    vbs += vb_integer(&w, ARCS(1, 3, 6, 1, 2, 1, 2, 2, 1, 7, ix), 1);             // ifAdminStatus.N = up
    vbs += vb_integer(&w, ARCS(1, 3, 6, 1, 2, 1, 2, 2, 1, 1, ix), ifindex);       // ifIndex.N
    size_t v = down ? oid(&w, ARCS(1, 3, 6, 1, 6, 3, 1, 1, 5, 3))                // linkDown
                    : oid(&w, ARCS(1, 3, 6, 1, 6, 3, 1, 1, 5, 4));               // linkUp
    vbs += varbind_close(&w, v, ARCS(1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0));          // snmpTrapOID.0
    vbs += varbind_close(&w, unsigned32(&w, 0x43, uptime), ARCS(1, 3, 6, 1, 2, 1, 1, 3, 0));  // sysUpTime.0
    size_t pdu = header(&w, 0x30, vbs);
    pdu += integer(&w, 0x02, 0);           // error-index
    pdu += integer(&w, 0x02, 0);           // error-status
    pdu += integer(&w, 0x02, request_id);  // request-id
    size_t msg = header(&w, 0xa7, pdu);    // SNMPv2-Trap-PDU
    msg += octets(&w, 0x04, community, strlen(community));
    msg += integer(&w, 0x02, 1);           // version: 1 = v2c
    *out_len = header(&w, 0x30, msg);
    return w.p;
}

struct trapctx {
    const char *community;
    uint64_t first;
    uint8_t bufs[LG_BATCH][MAXPKT];
};

static void fill(void *ctx, uint64_t first, unsigned n, double t, struct iovec *iov) {
    struct trapctx *c = ctx;
    uint32_t uptime = 8640000 + (uint32_t)(t * 100);  // the agents have been up for a day
    for (unsigned b = 0; b < n; b++) {
        uint64_t i = first + b, id = c->first + i;
        size_t len;
        iov[b].iov_base = encode(c->bufs[b], c->community, (int32_t)id, uptime, 1 + (int)(i % 48), (int)(id & 1), &len);
        iov[b].iov_len = len;
    }
}

int main(int argc, char **argv) {
    struct lg_args a = {.dest = "127.0.0.1", .extra = "public", .nsrc = 1, .first = 1};
    int rc = lg_parse_args("trapgen", argc, argv, 'c', 0x7fffffffull, usage, &a);
    if (rc) return rc;
    if (strlen(a.extra) > 64) { fprintf(stderr, "trapgen: the community is longer than 64 bytes\n"); return 2; }
    int fds[LG_MAXSRC];
    if ((rc = lg_open_sources("trapgen", a.dest, a.port, a.nsrc, a.ports_only, fds))) return rc;
    static struct trapctx ctx;
    ctx.community = a.extra;
    ctx.first = a.first;
    struct lg_result r = lg_run(fds, a.nsrc, a.rate, a.seconds, a.count, fill, &ctx);
    printf("{\"traps\":%llu,\"seconds\":%.3f,\"traps_per_second\":%.0f,\"bytes\":%llu,\"first_request_id\":%llu,"
           "\"last_request_id\":%llu,\"sources\":%d,\"min_len\":%zu,\"max_len\":%zu,\"send_errors\":%llu}\n",
           (unsigned long long)r.sent, r.seconds, r.sent / r.seconds, (unsigned long long)r.bytes, a.first,
           a.first + r.sent - (r.sent > 0), a.nsrc, r.min_len, r.max_len, (unsigned long long)r.errors);
    return 0;
}

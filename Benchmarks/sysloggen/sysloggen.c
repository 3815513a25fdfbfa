// sysloggen: a cheap syslog-over-UDP load generator for capacity benchmarks. Sends messages at a fixed
// rate for a fixed time (or up to a count) with sendmmsg, then prints what it sent as one JSON line.
// Only loopback: the destination must be in 127.0.0.0/8 or ::1, anything else is refused.
//
// Every message carries a unique, contiguous sequence number in its text, " seq=NNNNNNNNNN" (always
// ten digits), so rows that landed can be counted and matched exactly: message i of a run has
// seq FIRST_SEQ + i, and the JSON line gives the first and last one sent. Formats:
//   5424   RFC 5424 with structured data: <PRI>1 2026-11-22T06:41:45.123456Z HOST APP PROCID MSGID [SD] MSG
//   3164   BSD syslog (RFC 3164): <PRI>Nov 22 06:41:45 HOST APP[PID]: MSG
//   cisco  IOS style: <PRI>N: HOST: *Nov 22 06:41:45.123 UTC: %FAC-SEV-MNEMONIC: MSG
//   mix    per message, by sequence number: 2 of 5 RFC 5424, 2 of 5 RFC 3164, 1 of 5 Cisco
// Messages are 159-299 bytes (about 222 on average in mix), from 48 hostnames and 11 applications (6
// Cisco message kinds), each with its own text.
// They are prebuilt (POOL of them, cycled); per message only the timestamp and the digits of the
// sequence number are rewritten in place, so the generator stays cheap at high rates.
// Sources: -s N sends from N sockets in turn (one sendmmsg batch each), bound to 127.0.1.1, 127.0.1.2,
// … (IPv4), or with -P all from the destination's family loopback address on N ports (always so for ::1).
// Build: cc -O2 -I Benchmarks -o sysloggen Benchmarks/sysloggen/sysloggen.c
// Usage: sysloggen [-d ADDR] [-m 5424|3164|cisco|mix] [-s N] [-P] [-n COUNT] [-q FIRST_SEQ]
//                  PORT MESSAGES_PER_SECOND SECONDS
#include "loadgen.h"

#define POOL 1024      // prebuilt messages, cycled; must be >= LG_BATCH
#define MAXMSG 512
#define SEQDIGITS 10

enum { F5424, F3164, FCISCO };

struct msg {
    char buf[MAXMSG];
    int len, format;
    int ts_off;   // where the timestamp starts (its length depends on the format)
    int seq_off;  // where the ten digits of the sequence number start
};

static void usage(void) {
    fprintf(stderr, "usage: sysloggen [-d ADDR] [-m 5424|3164|cisco|mix] [-s N] [-P] [-n COUNT] [-q FIRST_SEQ]\n"
                    "                 PORT MESSAGES_PER_SECOND SECONDS\n"
                    "  -d ADDR  destination, 127.0.0.0/8 or ::1 only (default 127.0.0.1)\n"
                    "  -m FMT   message format (default mix: 2/5 RFC 5424, 2/5 RFC 3164, 1/5 Cisco)\n"
                    "  -s N     send from N sockets in turn: 127.0.1.1, 127.0.1.2, ... (default 1: 127.0.0.1)\n"
                    "  -P       with -s: one address, N source ports (always so for ::1)\n"
                    "  -n COUNT stop after COUNT messages (SECONDS still bounds the run)\n"
                    "  -q SEQ   sequence number of the first message (default 1)\n");
    exit(2);
}

// ---- message content: fixed tables, picked per pool slot so neighbours differ ----

static const char *sites[] = {"ams", "fra", "par", "lon", "nyc", "sjc"};
static const char *roles[] = {"core-rtr", "edge-sw", "fw", "srv-web", "srv-db", "wlc", "acc-sw", "lb"};

struct app {
    const char *name, *msgid;
    int facility, severity;
    const char *fmt;  // printf format for the text; arguments: a, b, c, d (ints), s (string)
};

static const char *users[] = {"alice", "bob", "deploy", "backup", "nagios", "root", "www-data", "admin"};

static const struct app apps[] = {
    {"sshd", "AUTH", 10, 6, "Accepted publickey for %5$s from 10.%1$d.%2$d.%3$d port %4$d ssh2: ED25519 SHA256:Qm9vdHN0cmFwLXNvdHAtYmVuY2g%1$02d%2$02d"},
    {"sshd", "AUTH", 10, 4, "Failed password for invalid user %5$s from 192.0.2.%3$d port %4$d ssh2 [preauth]; %1$d failures from this address in %2$d s"},
    {"kernel", "-", 0, 4, "[%4$d.%3$06d] nf_conntrack: table full, dropping packet; in=eth%1$d out= src=198.51.100.%2$d dst=10.0.%1$d.%3$d proto=TCP spt=%4$d dpt=443"},
    {"CRON", "CMD", 9, 6, "pam_unix(cron:session): session opened for user %5$s(uid=%4$d) by (uid=0); running /usr/local/bin/rotate-%1$d.sh --keep %2$d --quiet"},
    {"systemd", "UNIT", 3, 5, "logrotate-%1$d.service: Deactivated successfully after %2$d.%3$03ds; consumed %3$dms CPU time, %2$d.%1$dM memory peak, 0B memory swap peak"},
    {"nginx", "ACCESS", 16, 6, "10.%1$d.%2$d.%3$d - %5$s \"GET /api/v2/devices/%4$d/interfaces?page=%1$d HTTP/1.1\" 200 %4$d \"-\" \"Go-http-client/1.1\" rt=0.%3$03d"},
    {"postfix/smtpd", "MAIL", 2, 6, "NOQUEUE: reject: RCPT from mail%1$d.example.org[203.0.113.%2$d]: 450 4.7.1 <%5$s@example.net>: Recipient address rejected: greylisted for %3$d s"},
    {"named", "QUERY", 3, 6, "client @0x7f3a%4$04x 10.%1$d.%2$d.%3$d#%4$d (host%2$d.corp.example.com): query: host%2$d.corp.example.com IN AAAA +E(0)K (10.0.0.%1$d)"},
    {"dhcpd", "LEASE", 3, 6, "DHCPACK on 10.%1$d.%2$d.%3$d to 3c:ec:ef:%1$02x:%2$02x:%3$02x (ap-%2$d-%3$d) via vlan%4$d, lease %4$d s, relay 10.%1$d.0.1"},
    {"sudo", "SUDO", 10, 5, "%5$s : TTY=pts/%1$d ; PWD=/home/%5$s ; USER=root ; COMMAND=/usr/bin/systemctl restart collector@%2$d.service --no-block"},
    {"haproxy", "HTTP", 17, 6, "10.%1$d.%2$d.%3$d:%4$d [22/Nov/2026:06:41:45.%3$03d] fe_https~ be_api/srv%1$d 0/0/%2$d/%3$d/%4$d 200 %4$d - - ---- %1$d/%2$d/0/0/0 0/0"},
};
#define NAPPS (sizeof apps / sizeof apps[0])

struct cisco {
    const char *tag;  // %FAC-SEV-MNEMONIC
    int severity;
    const char *fmt;
};

static const struct cisco ciscos[] = {
    {"LINEPROTO-5-UPDOWN", 5, "Line protocol on Interface GigabitEthernet%1$d/0/%2$d, changed state to down (neighbor 10.%1$d.%2$d.%3$d, uplink po%4$d)"},
    {"LINK-3-UPDOWN", 3, "Interface TenGigabitEthernet%1$d/1/%2$d, changed state to up after %3$d flaps in the last %4$d seconds, errdisable recovery"},
    {"SEC-6-IPACCESSLOGP", 6, "list ACL-IN-%1$d denied tcp 198.51.100.%2$d(%4$d) -> 10.%1$d.%2$d.%3$d(22), %3$d packets, vrf MGMT"},
    {"SYS-5-CONFIG_I", 5, "Configured from console by %5$s on vty%1$d (10.%1$d.%2$d.%3$d), archive rev %4$d written to flash:config-%2$d"},
    {"OSPF-5-ADJCHG", 5, "Process %1$d, Nbr 10.%1$d.%2$d.%3$d on Vlan%4$d from LOADING to FULL, Loading Done, area 0.0.0.%2$d"},
    {"BGP-5-ADJCHANGE", 5, "neighbor 192.0.2.%3$d vpn vrf CUST-%1$d Up, AS 6%4$04d, %2$d prefixes received, hold time %1$d0 s, 4-byte AS"},
};
#define NCISCO (sizeof ciscos / sizeof ciscos[0])

static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static uint32_t mix32(uint32_t x) {  // a small integer hash, for reproducible variety
    x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16;
    return x;
}

// Builds pool slot i in format f, with placeholder timestamp and sequence digits.
static void build(struct msg *m, int i, int f) {
    uint32_t h = mix32((uint32_t)i * 2654435761u + 17);
    int hostn = h % 48;
    char host[64];
    snprintf(host, sizeof host, "%s-%s-%02d", roles[hostn % 8], sites[(hostn / 8) % 6], 1 + hostn % 7 + hostn / 16);
    int a = 1 + (h >> 8) % 200, b = 1 + (h >> 13) % 250, c = 1 + (h >> 17) % 250, d = 1024 + (h >> 4) % 60000;
    const char *user = users[(h >> 20) % 8];
    char text[320];
    int pri, n = 0;
    char *p = m->buf;
    m->format = f;
    if (f == FCISCO) {
        const struct cisco *cs = &ciscos[(h >> 24) % NCISCO];
        snprintf(text, sizeof text, cs->fmt, a, b, c, d, user);
        pri = (23 << 3) | cs->severity;  // local7, IOS's default facility
        n = sprintf(p, "<%d>%u: %s.example.net: ", pri, 100000u + h % 900000u, host);
        m->ts_off = n;
        n += sprintf(p + n, "*Jan  1 00:00:00.000 UTC: %%%s: %s", cs->tag, text);
    } else {
        const struct app *ap = &apps[(h >> 24) % NAPPS];
        snprintf(text, sizeof text, ap->fmt, a, b, c, d, user);
        pri = (ap->facility << 3) | ap->severity;
        if (f == F5424) {
            n = sprintf(p, "<%d>1 ", pri);
            m->ts_off = n;
            n += sprintf(p + n, "2026-01-01T00:00:00.000000Z %s.example.net %s %d %s "
                         "[origin ip=\"10.%d.%d.%d\"][meta sequenceId=\"%d\"] %s",
                         host, ap->name, 100 + (int)(h % 30000), ap->msgid, a, b, c, 1 + (int)(h % 100000), text);
        } else {
            n = sprintf(p, "<%d>", pri);
            m->ts_off = n;
            n += sprintf(p + n, "Jan  1 00:00:00 %s %s[%d]: %s", host, ap->name, 100 + (int)(h % 30000), text);
        }
    }
    // The sequence number last, so it is in the free text of every format.
    n += sprintf(p + n, " seq=");
    m->seq_off = n;
    n += sprintf(p + n, "%0*d", SEQDIGITS, 0);
    m->len = n;
}

struct genctx {
    int fixed;  // a format, or -1 for mix
    uint64_t first;
    time_t stamped;
    char ts3164[64];
    struct msg pools[3][POOL];
};

// Messages first… of the batch: wall-clock timestamps formatted once per batch, the sequence number's
// digits rewritten in place.
static void fill(void *ctxp, uint64_t first, unsigned n, double t, struct iovec *iov) {
    (void)t;
    struct genctx *c = ctxp;
    static const int mixplan[5] = {F5424, F3164, F5424, F3164, FCISCO};
    char ts5424[64], tscisco[80];
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    struct tm tm;
    gmtime_r(&wall.tv_sec, &tm);
    if (wall.tv_sec != c->stamped) {
        c->stamped = wall.tv_sec;
        snprintf(c->ts3164, sizeof c->ts3164, "%s %2d %02d:%02d:%02d", months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    snprintf(ts5424, sizeof ts5424, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, wall.tv_nsec / 1000);
    snprintf(tscisco, sizeof tscisco, "*%s.%03ld", c->ts3164, wall.tv_nsec / 1000000);
    for (unsigned b = 0; b < n; b++) {
        uint64_t i = first + b, seq = c->first + i;
        int f = c->fixed >= 0 ? c->fixed : mixplan[seq % 5];
        struct msg *m = &c->pools[f][i % POOL];
        char *p = m->buf;
        if (f == F5424) memcpy(p + m->ts_off, ts5424, 27);
        else if (f == F3164) memcpy(p + m->ts_off, c->ts3164, 15);
        else memcpy(p + m->ts_off, tscisco, 20);
        char *s = p + m->seq_off;
        uint64_t v = seq;
        for (int k = SEQDIGITS - 1; k >= 0; k--) { s[k] = '0' + v % 10; v /= 10; }
        iov[b].iov_base = p;
        iov[b].iov_len = m->len;
    }
}

int main(int argc, char **argv) {
    struct lg_args a = {.dest = "127.0.0.1", .extra = "mix", .nsrc = 1, .first = 1};
    int rc = lg_parse_args("sysloggen", argc, argv, 'm', 10000000000ull, usage, &a);
    if (rc) return rc;
    const char *mode = a.extra;
    int fixed = -1;
    if (!strcmp(mode, "5424")) fixed = F5424;
    else if (!strcmp(mode, "3164")) fixed = F3164;
    else if (!strcmp(mode, "cisco")) fixed = FCISCO;
    else if (strcmp(mode, "mix") != 0) { fprintf(stderr, "sysloggen: format is 5424, 3164, cisco or mix\n"); return 2; }

    int fds[LG_MAXSRC];
    if ((rc = lg_open_sources("sysloggen", a.dest, a.port, a.nsrc, a.ports_only, fds))) return rc;
    // One pool per format, so that in mix mode the format follows the sequence number (POOL is not a
    // multiple of 5) while the slot follows the message's index.
    static struct genctx ctx;
    ctx.fixed = fixed;
    ctx.first = a.first;
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < POOL; i++) build(&ctx.pools[f][i], i, f);
    struct lg_result r = lg_run(fds, a.nsrc, a.rate, a.seconds, a.count, fill, &ctx);
    printf("{\"messages\":%llu,\"seconds\":%.3f,\"messages_per_second\":%.0f,\"bytes\":%llu,\"first_seq\":%llu,"
           "\"last_seq\":%llu,\"format\":\"%s\",\"sources\":%d,\"min_len\":%zu,\"max_len\":%zu,\"send_errors\":%llu}\n",
           (unsigned long long)r.sent, r.seconds, r.sent / r.seconds, (unsigned long long)r.bytes, a.first,
           a.first + r.sent - (r.sent > 0), mode, a.nsrc, r.min_len, r.max_len, (unsigned long long)r.errors);
    return 0;
}

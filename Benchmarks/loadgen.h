// loadgen.h: what the UDP load generators (flowgen, sysloggen, trapgen) share: loopback-only
// destinations, source sockets, and a paced sendmmsg loop bounded by count and time. Header only;
// each generator includes it and fills batches of datagrams through a callback.
#ifndef SOTP_LOADGEN_H
#define SOTP_LOADGEN_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LG_BATCH 64
#define LG_MAXSRC 1024

static double lg_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Opens nsrc UDP sockets connected to dest:port, which must be in 127.0.0.0/8 or ::1 (anything else
// is refused: these tools only load the machine they run on). IPv4 sources with nsrc > 1 and no
// ports_only are bound to 127.0.1.1, 127.0.1.2, … (a distinct source address each); otherwise all
// share the family's loopback address on ephemeral ports. Returns 0, or the exit code after a message.
static int lg_open_sources(const char *tool, const char *dest, int port, int nsrc, int ports_only, int fds[]) {
    struct sockaddr_storage dst;
    socklen_t dstlen;
    int family;
    memset(&dst, 0, sizeof dst);
    struct sockaddr_in *d4 = (struct sockaddr_in *)&dst;
    struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&dst;
    if (inet_pton(AF_INET, dest, &d4->sin_addr) == 1) {
        if ((ntohl(d4->sin_addr.s_addr) >> 24) != 127) { fprintf(stderr, "%s: %s is not in 127.0.0.0/8; refused\n", tool, dest); return 2; }
        family = AF_INET; d4->sin_family = AF_INET; d4->sin_port = htons(port); dstlen = sizeof *d4;
    } else if (inet_pton(AF_INET6, dest, &d6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&d6->sin6_addr)) { fprintf(stderr, "%s: %s is not ::1; refused\n", tool, dest); return 2; }
        family = AF_INET6; d6->sin6_family = AF_INET6; d6->sin6_port = htons(port); dstlen = sizeof *d6;
        ports_only = 1;
    } else {
        fprintf(stderr, "%s: %s is not an address; refused\n", tool, dest);
        return 2;
    }
    if (nsrc < 1 || nsrc > LG_MAXSRC) { fprintf(stderr, "%s: 1 to %d sources\n", tool, LG_MAXSRC); return 2; }
    for (int k = 0; k < nsrc; k++) {
        int fd = socket(family, SOCK_DGRAM, 0);
        if (fd < 0) { perror("socket"); return 1; }
        int sndbuf = 8 << 20;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        if (family == AF_INET && nsrc > 1 && !ports_only) {
            struct sockaddr_in src = {.sin_family = AF_INET};
            src.sin_addr.s_addr = htonl(0x7f000100u + 1 + k);  // 127.0.1.1 … 127.0.4.255
            if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) { perror("bind"); return 1; }
        }
        if (connect(fd, (struct sockaddr *)&dst, dstlen) != 0) { perror("connect"); return 1; }
        fds[k] = fd;
    }
    return 0;
}

// The options sysloggen and trapgen share, and their positional PORT RATE SECONDS.
struct lg_args {
    const char *dest;      // -d ADDR (default 127.0.0.1)
    const char *extra;     // the generator's own option's value (its default until given)
    int nsrc, ports_only;  // -s N, -P
    unsigned long long count, first;  // -n COUNT, -q FIRST
    int port;
    double rate, seconds;
};

// Parses -d -s -P -n -q, the generator's own option `extra_opt` (a letter taking a value, into
// a->extra) and PORT RATE SECONDS; calls usage() (which exits) on anything else. Returns 0, or 2 after
// a message when a value is out of range: the port, a rate, 0 < SECONDS <= 3600, or first + the
// messages the run can send reaching `first_limit` (the generator's numbering must not overflow).
static int lg_parse_args(const char *tool, int argc, char **argv, char extra_opt, uint64_t first_limit,
                         void (*usage)(void), struct lg_args *a) {
    char optstring[] = "d:s:Pn:q:hX:";
    optstring[sizeof optstring - 3] = extra_opt;
    int opt;
    while ((opt = getopt(argc, argv, optstring)) != -1) {
        if (opt == extra_opt) { a->extra = optarg; continue; }
        switch (opt) {
        case 'd': a->dest = optarg; break;
        case 's': a->nsrc = atoi(optarg); break;
        case 'P': a->ports_only = 1; break;
        case 'n': a->count = strtoull(optarg, NULL, 10); break;
        case 'q': a->first = strtoull(optarg, NULL, 10); break;
        default: usage();
        }
    }
    if (argc - optind != 3) usage();
    a->port = atoi(argv[optind]);
    a->rate = atof(argv[optind + 1]);
    a->seconds = atof(argv[optind + 2]);
    uint64_t most = a->count && a->count < a->rate * a->seconds ? a->count : (uint64_t)(a->rate * a->seconds);
    if (a->port <= 0 || a->port > 65535 || a->rate <= 0 || a->seconds <= 0 || a->seconds > 3600 || a->first + most >= first_limit) {
        fprintf(stderr, "%s: bad arguments\n", tool);
        return 2;
    }
    return 0;
}

// Fills iov[0..n) with datagrams first, first+1, … of the run (n ≤ LG_BATCH); t is seconds since the
// start. Datagrams not sent are asked for again, with the same indexes, in the next batch.
typedef void (*lg_fill)(void *ctx, uint64_t first, unsigned n, double t, struct iovec *iov);

struct lg_result {
    uint64_t sent, bytes, errors;
    double seconds;
    size_t min_len, max_len;
};

// Sends `rate` datagrams a second for `seconds` (and at most `count` when it is not 0), batches of up
// to LG_BATCH per sendmmsg, socket after socket.
static struct lg_result lg_run(const int fds[], int nsrc, double rate, double seconds, uint64_t count, lg_fill fill, void *ctx) {
    struct iovec iov[LG_BATCH];
    struct mmsghdr msgs[LG_BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int b = 0; b < LG_BATCH; b++) {
        msgs[b].msg_hdr.msg_iov = &iov[b];
        msgs[b].msg_hdr.msg_iovlen = 1;
    }
    struct lg_result r = {.min_len = SIZE_MAX};
    double start = lg_now(), end = start + seconds;
    uint64_t batches = 0;
    while (1) {
        double t = lg_now();
        if (t >= end || (count && r.sent >= count)) break;
        uint64_t due = (uint64_t)((t - start) * rate);
        if (count && due > count) due = count;
        if (r.sent >= due) { usleep(100); continue; }
        uint64_t n = due - r.sent;
        if (n > LG_BATCH) n = LG_BATCH;
        fill(ctx, r.sent, (unsigned)n, t - start, iov);
        int k = sendmmsg(fds[batches++ % nsrc], msgs, (unsigned)n, 0);
        if (k < 0) { r.errors++; usleep(50); continue; }
        for (int b = 0; b < k; b++) {
            r.bytes += iov[b].iov_len;
            if (iov[b].iov_len < r.min_len) r.min_len = iov[b].iov_len;
            if (iov[b].iov_len > r.max_len) r.max_len = iov[b].iov_len;
        }
        r.sent += k;
    }
    r.seconds = lg_now() - start;
    if (!r.sent) r.min_len = 0;
    return r;
}

#endif

// flowgen: a cheap NetFlow v5 load generator for capacity benchmarks. Sends prebuilt v5 packets
// (30 records each, sequence numbers and addresses varied per packet) to 127.0.0.1:PORT with sendmmsg
// at a fixed record rate for a fixed time, then prints what it sent. Only loopback: the destination
// address is not an argument. Build: gcc -O2 -o flowgen flowgen.c
// Usage: flowgen PORT RECORDS_PER_SECOND SECONDS
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

#define RECORDS 30
#define PKT (24 + RECORDS * 48)
#define BATCH 64

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: flowgen PORT RECORDS_PER_SECOND SECONDS\n");
        return 2;
    }
    int port = atoi(argv[1]);
    double rate = atof(argv[2]), seconds = atof(argv[3]);
    if (port <= 0 || port > 65535 || rate <= 0 || seconds <= 0 || seconds > 3600) {
        fprintf(stderr, "flowgen: bad arguments\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int sndbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port)};
    dst.sin_addr.s_addr = htonl(0x7f000001);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) { perror("connect"); return 1; }

    static uint8_t pkts[BATCH][PKT];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int b = 0; b < BATCH; b++) {
        uint8_t *p = pkts[b];
        memset(p, 0, PKT);
        put16(p, 5); put16(p + 2, RECORDS);
        for (int r = 0; r < RECORDS; r++) {
            uint8_t *f = p + 24 + r * 48;
            put32(f + 0, 0x0a000000u | (b << 8) | r);        // src 10.0.b.r (data only, never sent to)
            put32(f + 4, 0x0a640000u | (r << 8) | b);        // dst 10.100.r.b
            put16(f + 12, 1 + r); put16(f + 14, 2 + b);       // in/out if
            put32(f + 16, 10 + r); put32(f + 20, 1500 * (10 + r));  // packets, bytes
            put32(f + 24, 1000); put32(f + 28, 2000);        // first, last (uptime ms)
            put16(f + 32, 10000 + r); put16(f + 34, 443);    // ports
            f[37] = 0x18; f[38] = 6;                          // TCP flags, TCP
        }
        iov[b].iov_base = p;
        iov[b].iov_len = PKT;
        msgs[b].msg_hdr.msg_iov = &iov[b];
        msgs[b].msg_hdr.msg_iovlen = 1;
    }
    double pps = rate / RECORDS, start = now(), end = start + seconds;
    uint64_t sent = 0, errors = 0;
    uint32_t seq = 0;
    while (1) {
        double t = now();
        if (t >= end) break;
        uint64_t due = (uint64_t)((t - start) * pps);
        if (sent >= due) { usleep(100); continue; }
        uint64_t n = due - sent;
        if (n > BATCH) n = BATCH;
        uint32_t secs = (uint32_t)time(NULL);
        for (uint64_t b = 0; b < n; b++) {
            put32(pkts[b] + 4, 5000); put32(pkts[b] + 8, secs); put32(pkts[b] + 16, seq);
            seq += RECORDS;
        }
        int k = sendmmsg(fd, msgs, (unsigned)n, 0);
        if (k < 0) { errors++; seq -= (uint32_t)n * RECORDS; usleep(50); continue; }
        if ((uint64_t)k < n) seq -= (uint32_t)(n - k) * RECORDS;
        sent += k;
    }
    double took = now() - start;
    printf("{\"packets\":%llu,\"records\":%llu,\"seconds\":%.3f,\"records_per_second\":%.0f,\"send_errors\":%llu}\n",
           (unsigned long long)sent, (unsigned long long)sent * RECORDS, took, sent * RECORDS / took, (unsigned long long)errors);
    return 0;
}

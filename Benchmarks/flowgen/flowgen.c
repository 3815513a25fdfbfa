// flowgen: a cheap NetFlow v5 load generator for capacity benchmarks. Sends prebuilt v5 packets
// (30 records each, sequence numbers and addresses varied per packet) to 127.0.0.1:PORT with sendmmsg
// at a fixed record rate for a fixed time, then prints what it sent. Only loopback: the destination
// address is not an argument. Build: cc -O2 -I Benchmarks -o flowgen Benchmarks/flowgen/flowgen.c
// Usage: flowgen PORT RECORDS_PER_SECOND SECONDS
#include "loadgen.h"

#define RECORDS 30
#define PKT (24 + RECORDS * 48)

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

static uint8_t pkts[LG_BATCH][PKT];

// Packet i of the run carries flow_sequence i * RECORDS (the records before it), so a packet the
// kernel refused is sent again with the same number and the exporter's sequence has no gap.
static void fill(void *ctx, uint64_t first, unsigned n, double t, struct iovec *iov) {
    (void)ctx;
    (void)t;
    uint32_t secs = (uint32_t)time(NULL);
    for (unsigned b = 0; b < n; b++) {
        put32(pkts[b] + 4, 5000); put32(pkts[b] + 8, secs); put32(pkts[b] + 16, (uint32_t)((first + b) * RECORDS));
        iov[b].iov_base = pkts[b];
        iov[b].iov_len = PKT;
    }
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
    int fd, rc = lg_open_sources("flowgen", "127.0.0.1", port, 1, 0, &fd);
    if (rc) return rc;
    for (int b = 0; b < LG_BATCH; b++) {
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
    }
    struct lg_result r = lg_run(&fd, 1, rate / RECORDS, seconds, 0, fill, NULL);
    printf("{\"packets\":%llu,\"records\":%llu,\"seconds\":%.3f,\"records_per_second\":%.0f,\"send_errors\":%llu}\n",
           (unsigned long long)r.sent, (unsigned long long)r.sent * RECORDS, r.seconds, r.sent * RECORDS / r.seconds,
           (unsigned long long)r.errors);
    return 0;
}

// framegen: Ethernet frames at a capture probe. Builds FLOWS distinct 60-byte UDP frames (source ports
// 1024…, then source addresses, → DST_IP:9999) and sends COUNT of them round robin onto IFACE through an
// AF_PACKET socket in sendmmsg batches of 64 (through the qdisc, so captures see them), at RATE frames/s or as fast as it can
// (RATE 0), for at most SECONDS. Only to the RFC 2544 benchmarking range 198.18.0.0/15 that the test and
// benchmark namespaces use: anything else is refused. Prints one JSON line: sent, seconds, pps.
// Usage: framegen IFACE SRC_MAC DST_MAC SRC_IP DST_IP FLOWS COUNT [RATE] [SECONDS]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME 60
#define BATCH 64

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int mac(const char *s, unsigned char out[6]) {
    return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &out[0], &out[1], &out[2], &out[3], &out[4], &out[5]) == 6 ? 0 : -1;
}

static uint16_t csum(const unsigned char *p, int n) {
    uint32_t s = 0;
    for (int i = 0; i < n; i += 2) s += (uint32_t)p[i] << 8 | p[i + 1];
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: %s IFACE SRC_MAC DST_MAC SRC_IP DST_IP FLOWS COUNT [RATE] [SECONDS]\n", argv[0]);
        return 2;
    }
    unsigned char smac[6], dmac[6];
    struct in_addr sip, dip;
    long flows = atol(argv[6]), count = atol(argv[7]);
    double rate = argc > 8 ? atof(argv[8]) : 0, limit = argc > 9 ? atof(argv[9]) : 60;
    if (mac(argv[2], smac) || mac(argv[3], dmac) || !inet_pton(AF_INET, argv[4], &sip) || !inet_pton(AF_INET, argv[5], &dip)
        || flows < 1 || flows > 1000000 || count < 1 || limit <= 0 || limit > 600) {
        fprintf(stderr, "framegen: bad arguments\n");
        return 2;
    }
    if ((ntohl(dip.s_addr) & 0xfffe0000) != 0xc6120000) {
        fprintf(stderr, "framegen: %s is outside 198.18.0.0/15, the benchmark namespaces' range: refused\n", argv[5]);
        return 2;
    }
    int ifindex = (int)if_nametoindex(argv[1]);
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (!ifindex || fd < 0) { perror("framegen: interface or socket"); return 1; }
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_protocol = htons(ETH_P_IP)};
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) { perror("framegen: bind"); return 1; }
    // Not PACKET_QDISC_BYPASS: frames that bypass the qdisc also bypass the taps a capture listens on.

    unsigned char *frames = calloc((size_t)flows, FRAME);
    if (!frames) return 1;
    for (long i = 0; i < flows; i++) {
        unsigned char *f = frames + i * FRAME;
        memcpy(f, dmac, 6);
        memcpy(f + 6, smac, 6);
        f[12] = 0x08;
        unsigned char *ip = f + 14;
        uint32_t src = ntohl(sip.s_addr) + (uint32_t)(i / 60000);
        ip[0] = 0x45; ip[2] = 0; ip[3] = 46; ip[4] = (unsigned char)(i >> 8); ip[5] = (unsigned char)i; ip[8] = 64; ip[9] = 17;
        ip[12] = src >> 24; ip[13] = src >> 16; ip[14] = src >> 8; ip[15] = src;
        memcpy(ip + 16, &dip.s_addr, 4);
        uint16_t c = csum(ip, 20);
        ip[10] = c >> 8; ip[11] = c & 0xff;
        unsigned char *udp = ip + 20;
        uint16_t sport = 1024 + (uint16_t)(i % 60000);
        udp[0] = sport >> 8; udp[1] = sport & 0xff; udp[2] = 9999 >> 8; udp[3] = 9999 & 0xff; udp[5] = 26;
    }
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    memset(msgs, 0, sizeof msgs);
    long sent = 0, next = 0;
    double t0 = now(), end = t0 + limit;
    while (sent < count) {
        double t = now();
        if (t >= end) break;
        long batch = BATCH;
        if (rate > 0) {
            long due = (long)((t - t0) * rate) - sent;
            if (due <= 0) { usleep(50); continue; }
            if (batch > due) batch = due;
        }
        if (batch > count - sent) batch = count - sent;
        for (long k = 0; k < batch; k++) {
            iov[k].iov_base = frames + next * FRAME;
            iov[k].iov_len = FRAME;
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
            if (++next == flows) next = 0;
        }
        int n = sendmmsg(fd, msgs, (unsigned)batch, 0);
        if (n < 0) { usleep(100); next = (next - batch % flows + flows) % flows; continue; }
        sent += n;
        if (n < batch) next = (next - (batch - n) % flows + flows) % flows;
    }
    double secs = now() - t0;
    printf("{\"sent\":%ld,\"seconds\":%.3f,\"pps\":%.0f}\n", sent, secs, sent / secs);
    return 0;
}

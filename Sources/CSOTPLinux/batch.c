// Message batches for recvmmsg/sendmmsg: one allocation holding the mmsghdrs, iovecs, socket
// addresses, control buffers and packet buffers, wired once. Swift fills and reads them through the
// accessors below; the cmsg work (kernel receive timestamps, per-packet TOS and source) is macros, so
// it lives here.
#include "CSOTPLinux.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/errqueue.h>

#define SOTP_CTRL_BYTES 128

struct sotp_batch {
    unsigned count;
    unsigned bufsize;
    struct mmsghdr *msgs;
    struct iovec *iov;
    struct sockaddr_in6 *names;  // large enough for either family
    unsigned char *ctrl;
    unsigned char *bufs;
};

_Static_assert(SOTP_SO_TIMESTAMPNS == SO_TIMESTAMPNS, "SO_TIMESTAMPNS");
_Static_assert(SOTP_SO_RXQ_OVFL == SO_RXQ_OVFL, "SO_RXQ_OVFL");
_Static_assert(SOTP_ICMP_FILTER == ICMP_FILTER, "ICMP_FILTER");
_Static_assert(SOTP_ICMPV6_FILTER == ICMPV6_FILTER, "ICMPV6_FILTER");
_Static_assert(SOTP_IP_PKTINFO == IP_PKTINFO, "IP_PKTINFO");
_Static_assert(SOTP_IPV6_TCLASS == IPV6_TCLASS, "IPV6_TCLASS");
_Static_assert(SOTP_IPV6_PKTINFO == IPV6_PKTINFO, "IPV6_PKTINFO");

sotp_batch *sotp_batch_new(unsigned count, unsigned bufsize) {
    sotp_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->count = count;
    b->bufsize = bufsize;
    b->msgs = calloc(count, sizeof *b->msgs);
    b->iov = calloc(count, sizeof *b->iov);
    b->names = calloc(count, sizeof *b->names);
    b->ctrl = calloc(count, SOTP_CTRL_BYTES);
    b->bufs = calloc(count, bufsize);
    if (!b->msgs || !b->iov || !b->names || !b->ctrl || !b->bufs) {
        sotp_batch_free(b);
        return NULL;
    }
    for (unsigned i = 0; i < count; i++) {
        b->iov[i].iov_base = b->bufs + (size_t)i * bufsize;
        b->iov[i].iov_len = bufsize;
        b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
        b->msgs[i].msg_hdr.msg_iovlen = 1;
        b->msgs[i].msg_hdr.msg_name = &b->names[i];
        b->msgs[i].msg_hdr.msg_namelen = sizeof b->names[i];
        b->msgs[i].msg_hdr.msg_control = b->ctrl + (size_t)i * SOTP_CTRL_BYTES;
        b->msgs[i].msg_hdr.msg_controllen = SOTP_CTRL_BYTES;
    }
    return b;
}

void sotp_batch_free(sotp_batch *b) {
    if (!b) return;
    free(b->msgs);
    free(b->iov);
    free(b->names);
    free(b->ctrl);
    free(b->bufs);
    free(b);
}

unsigned sotp_batch_count(const sotp_batch *b) { return b->count; }
unsigned sotp_batch_bufsize(const sotp_batch *b) { return b->bufsize; }
unsigned char *sotp_batch_buffer(sotp_batch *b, unsigned i) { return b->bufs + (size_t)i * b->bufsize; }

int sotp_batch_recv(int fd, sotp_batch *b, int flags) {
    for (unsigned i = 0; i < b->count; i++) {
        b->iov[i].iov_len = b->bufsize;
        b->msgs[i].msg_hdr.msg_namelen = sizeof b->names[i];
        b->msgs[i].msg_hdr.msg_controllen = SOTP_CTRL_BYTES;
        b->msgs[i].msg_hdr.msg_flags = 0;
        b->msgs[i].msg_len = 0;
    }
    int n;
    do {
        n = recvmmsg(fd, b->msgs, b->count, flags, NULL);
    } while (n < 0 && errno == EINTR);
    return n;
}

unsigned sotp_batch_length(const sotp_batch *b, unsigned i) {
    unsigned len = b->msgs[i].msg_len;
    return len < b->bufsize ? len : b->bufsize;
}

int sotp_batch_truncated(const sotp_batch *b, unsigned i) { return (b->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0; }

int64_t sotp_batch_rx_nanos(sotp_batch *b, unsigned i) {
    struct msghdr *m = &b->msgs[i].msg_hdr;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        }
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING && c->cmsg_len >= CMSG_LEN(sizeof(struct scm_timestamping))) {
            struct scm_timestamping ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            // ts[0] is the software stamp; zero when only hardware stamps are on.
            if (ts.ts[0].tv_sec != 0 || ts.ts[0].tv_nsec != 0) return (int64_t)ts.ts[0].tv_sec * 1000000000 + ts.ts[0].tv_nsec;
        }
    }
    return -1;
}

int64_t sotp_batch_rxq_ovfl(sotp_batch *b, unsigned i) {
    struct msghdr *m = &b->msgs[i].msg_hdr;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t v;
            memcpy(&v, CMSG_DATA(c), sizeof v);
            return v;
        }
    }
    return -1;
}

int sotp_batch_source(const sotp_batch *b, unsigned i, uint32_t *v4, unsigned char v6[16], uint16_t *port) {
    const struct sockaddr_in6 *n = &b->names[i];
    if (n->sin6_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)n;
        *v4 = ntohl(a->sin_addr.s_addr);
        *port = ntohs(a->sin_port);
        return 4;
    }
    if (n->sin6_family == AF_INET6) {
        memcpy(v6, &n->sin6_addr, 16);
        *port = ntohs(n->sin6_port);
        return 6;
    }
    return 0;
}

/// Points message i at its control area and its iovec at len bytes, with the name length set.
static struct msghdr *begin(sotp_batch *b, unsigned i, socklen_t namelen, unsigned len) {
    struct msghdr *m = &b->msgs[i].msg_hdr;
    m->msg_namelen = namelen;
    b->iov[i].iov_len = len;
    m->msg_control = b->ctrl + (size_t)i * SOTP_CTRL_BYTES;
    m->msg_controllen = SOTP_CTRL_BYTES;
    return m;
}

/// Appends one control message after the `*used` bytes already written.
static void add_cmsg(struct msghdr *m, size_t *used, int level, int type, const void *data, size_t len) {
    struct cmsghdr *c = (struct cmsghdr *)((unsigned char *)m->msg_control + *used);
    c->cmsg_level = level;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(c), data, len);
    *used += CMSG_SPACE(len);
}

static void finish(struct msghdr *m, size_t used) {
    m->msg_controllen = used;
    if (used == 0) m->msg_control = NULL;
}

void sotp_batch_set_v4(sotp_batch *b, unsigned i, uint32_t dst, uint16_t port, unsigned len, int tos, uint32_t src) {
    struct sockaddr_in *n = (struct sockaddr_in *)&b->names[i];
    memset(n, 0, sizeof *n);
    n->sin_family = AF_INET;
    n->sin_port = htons(port);
    n->sin_addr.s_addr = htonl(dst);
    struct msghdr *m = begin(b, i, sizeof *n, len);
    size_t used = 0;
    if (tos >= 0) add_cmsg(m, &used, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    if (src != 0) {
        struct in_pktinfo pi;
        memset(&pi, 0, sizeof pi);
        pi.ipi_spec_dst.s_addr = htonl(src);
        add_cmsg(m, &used, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi);
    }
    finish(m, used);
}

void sotp_batch_set_v6(sotp_batch *b, unsigned i, const unsigned char dst[16], uint16_t port, unsigned len, int tclass, const unsigned char *src) {
    struct sockaddr_in6 *n = &b->names[i];
    memset(n, 0, sizeof *n);
    n->sin6_family = AF_INET6;
    n->sin6_port = htons(port);
    memcpy(&n->sin6_addr, dst, 16);
    struct msghdr *m = begin(b, i, sizeof *n, len);
    size_t used = 0;
    if (tclass >= 0) add_cmsg(m, &used, IPPROTO_IPV6, IPV6_TCLASS, &tclass, sizeof tclass);
    if (src) {
        struct in6_pktinfo pi;
        memset(&pi, 0, sizeof pi);
        memcpy(&pi.ipi6_addr, src, 16);
        add_cmsg(m, &used, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof pi);
    }
    finish(m, used);
}

void sotp_batch_set_ts_key(sotp_batch *b, unsigned i, uint32_t key) {
    struct msghdr *m = &b->msgs[i].msg_hdr;
    size_t used = m->msg_control ? m->msg_controllen : 0;
    m->msg_control = b->ctrl + (size_t)i * SOTP_CTRL_BYTES;
    add_cmsg(m, &used, SOL_SOCKET, SOTP_SCM_TS_OPT_ID, &key, sizeof key);
    finish(m, used);
}

int sotp_batch_send(int fd, sotp_batch *b, unsigned start, unsigned count) {
    if (start >= b->count) return 0;
    if (count > b->count - start) count = b->count - start;
    int n;
    do {
        n = sendmmsg(fd, b->msgs + start, count, 0);
    } while (n < 0 && errno == EINTR);
    return n;
}

int sotp_icmp_filter_v4(int fd, uint32_t pass_mask) {
    struct icmp_filter f = {.data = ~pass_mask};  // a set bit blocks that type
    return setsockopt(fd, SOL_RAW, ICMP_FILTER, &f, sizeof f);
}

int sotp_icmp_filter_v6(int fd, const uint8_t *pass_types, unsigned n) {
    struct icmp6_filter f;
    memset(&f, 0xff, sizeof f);  // block all, then let the listed types through
    for (unsigned i = 0; i < n; i++) f.data[pass_types[i] >> 5] &= ~(1u << (pass_types[i] & 31));
    return setsockopt(fd, IPPROTO_ICMPV6, ICMPV6_FILTER, &f, sizeof f);
}

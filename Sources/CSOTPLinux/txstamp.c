// The error queue of the ICMP sockets: kernel transmit timestamps (SO_TIMESTAMPING with OPT_ID and
// OPT_TSONLY) read in recvmmsg batches, and the check for SCM_TS_OPT_ID, which keys each packet's stamp.
#include "CSOTPLinux.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>

#define ERRQ_DATA_BYTES 64
// SCM_TIMESTAMPING (16 + 48) and IPV6_RECVERR (16 + 16 + 28, padded to 64) fill 128; room to spare.
#define ERRQ_CTRL_BYTES 256

#ifdef SCM_TS_OPT_ID
_Static_assert(SOTP_SCM_TS_OPT_ID == SCM_TS_OPT_ID, "SCM_TS_OPT_ID");
#endif
_Static_assert(SOTP_SOF_TIMESTAMPING_TX_SOFTWARE == SOF_TIMESTAMPING_TX_SOFTWARE, "flags");
_Static_assert(SOTP_SOF_TIMESTAMPING_SOFTWARE == SOF_TIMESTAMPING_SOFTWARE, "flags");
_Static_assert(SOTP_SOF_TIMESTAMPING_OPT_ID == SOF_TIMESTAMPING_OPT_ID, "flags");

struct sotp_errq {
    unsigned count;
    struct mmsghdr *msgs;
    struct iovec *iov;
    unsigned char *ctrl;
    unsigned char *bufs;
};

sotp_errq *sotp_errq_new(unsigned count) {
    sotp_errq *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->count = count;
    q->msgs = calloc(count, sizeof *q->msgs);
    q->iov = calloc(count, sizeof *q->iov);
    q->ctrl = calloc(count, ERRQ_CTRL_BYTES);
    q->bufs = calloc(count, ERRQ_DATA_BYTES);
    if (!q->msgs || !q->iov || !q->ctrl || !q->bufs) {
        sotp_errq_free(q);
        return NULL;
    }
    for (unsigned i = 0; i < count; i++) {
        q->iov[i].iov_base = q->bufs + (size_t)i * ERRQ_DATA_BYTES;
        q->iov[i].iov_len = ERRQ_DATA_BYTES;
        q->msgs[i].msg_hdr.msg_iov = &q->iov[i];
        q->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    return q;
}

void sotp_errq_free(sotp_errq *q) {
    if (!q) return;
    free(q->msgs);
    free(q->iov);
    free(q->ctrl);
    free(q->bufs);
    free(q);
}

unsigned sotp_errq_count(const sotp_errq *q) { return q->count; }

int sotp_errq_recv(int fd, sotp_errq *q) {
    for (unsigned i = 0; i < q->count; i++) {
        q->msgs[i].msg_hdr.msg_name = NULL;
        q->msgs[i].msg_hdr.msg_namelen = 0;
        q->msgs[i].msg_hdr.msg_control = q->ctrl + (size_t)i * ERRQ_CTRL_BYTES;
        q->msgs[i].msg_hdr.msg_controllen = ERRQ_CTRL_BYTES;
        q->msgs[i].msg_hdr.msg_flags = 0;
        q->msgs[i].msg_len = 0;
    }
    int n;
    do {
        n = recvmmsg(fd, q->msgs, q->count, MSG_ERRQUEUE | MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    return n;
}

int sotp_errq_entry(const sotp_errq *q, unsigned i, uint32_t *key, int64_t *nanos) {
    const struct msghdr *m = &q->msgs[i].msg_hdr;
    struct sock_extended_err ee;
    int have_ee = 0, have_ts = 0;
    struct scm_timestamping ts;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING && c->cmsg_len >= CMSG_LEN(sizeof ts)) {
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            have_ts = 1;
        } else if (((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) && c->cmsg_len >= CMSG_LEN(sizeof ee)) {
            memcpy(&ee, CMSG_DATA(c), sizeof ee);
            have_ee = 1;
        }
    }
    if (!have_ee) return SOTP_ERRQ_OTHER;
    if (ee.ee_origin == SO_EE_ORIGIN_ICMP || ee.ee_origin == SO_EE_ORIGIN_ICMP6) {
        *key = (uint32_t)ee.ee_type << 8 | ee.ee_code;
        return SOTP_ERRQ_ICMP;
    }
    if (ee.ee_origin != SO_EE_ORIGIN_TIMESTAMPING || ee.ee_errno != ENOMSG || ee.ee_info != SCM_TSTAMP_SND || !have_ts) return SOTP_ERRQ_OTHER;
    if (ts.ts[0].tv_sec == 0 && ts.ts[0].tv_nsec == 0) return SOTP_ERRQ_OTHER;  // a hardware stamp only
    *key = ee.ee_data;
    *nanos = (int64_t)ts.ts[0].tv_sec * 1000000000 + ts.ts[0].tv_nsec;
    return SOTP_ERRQ_TX_SOFTWARE;
}

int sotp_ts_key_supported_v4(int fd) {
    // The echo request ping sockets insist on; raw sockets take it as it is. MSG_PROBE (0x10, glibc's
    // MSG_PROXY) stops IPv4 raw and ping sockets after routing, and the control message is parsed before
    // that: a kernel without SCM_TS_OPT_ID fails it with EINVAL, one with it goes on to route (or fails
    // for some other reason, which does not matter here). IPv6 ping sockets ignore MSG_PROBE and send,
    // so only IPv4 is asked; both families share the one parser.
    unsigned char echo[8] = {8, 0, 0xf7, 0xff, 0, 0, 0, 0};
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    union {
        unsigned char buf[CMSG_SPACE(sizeof(uint32_t))];
        struct cmsghdr align;
    } ctrl;
    memset(&ctrl, 0, sizeof ctrl);
    struct iovec iov = {.iov_base = echo, .iov_len = sizeof echo};
    struct msghdr m = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = ctrl.buf, .msg_controllen = sizeof ctrl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SOTP_SCM_TS_OPT_ID;
    c->cmsg_len = CMSG_LEN(sizeof(uint32_t));
    uint32_t key = 0;
    memcpy(CMSG_DATA(c), &key, sizeof key);
    int r;
    do {
        r = sendmsg(fd, &m, 0x10 /* MSG_PROBE */);
    } while (r < 0 && errno == EINTR);
    return !(r < 0 && errno == EINVAL);
}

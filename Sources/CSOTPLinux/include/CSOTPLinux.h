// Linux calls and structs Glibc does not expose to Swift: recvmmsg/sendmmsg, CPU affinity and
// SO_TIMESTAMPING. The header must not define _GNU_SOURCE (that breaks Glibc's module); the wrappers in
// shim.c are compiled with it and the types here mirror the kernel's layout (checked there).
#ifndef CSOTPLINUX_H
#define CSOTPLINUX_H

// Only stdint/stddef here: <sys/socket.h> pulls in <sys/select.h>, whose anonymous fd_set struct
// clashes with the copy another C module (net-snmp's) carries when one Swift module imports both. So
// the socket structs Swift needs are mirrored below and checked against the real ones in shim.c.
#include <stddef.h>
#include <stdint.h>

/// Mirror of struct timespec.
typedef struct sotp_timespec {
    int64_t tv_sec;
    int64_t tv_nsec;
} sotp_timespec;

/// Mirror of struct iovec.
typedef struct sotp_iovec {
    void *iov_base;
    size_t iov_len;
} sotp_iovec;

/// Mirror of struct msghdr.
typedef struct sotp_msghdr {
    void *msg_name;
    uint32_t msg_namelen;
    sotp_iovec *msg_iov;
    size_t msg_iovlen;
    void *msg_control;
    size_t msg_controllen;
    int msg_flags;
} sotp_msghdr;

/// Mirror of struct mmsghdr (sys/socket.h under _GNU_SOURCE).
typedef struct sotp_mmsghdr {
    sotp_msghdr msg_hdr;
    unsigned int msg_len;
} sotp_mmsghdr;

/// Mirror of struct scm_timestamping (linux/errqueue.h): [0] software, [1] deprecated, [2] hardware.
typedef struct sotp_scm_timestamping {
    sotp_timespec ts[3];
} sotp_scm_timestamping;

/// SO_TIMESTAMPING and its flags (linux/net_tstamp.h), fixed by the kernel ABI.
enum {
    SOTP_SO_TIMESTAMPING = 37,
    SOTP_SCM_TIMESTAMPING = 37,
    SOTP_SOF_TIMESTAMPING_TX_HARDWARE = 1 << 0,
    SOTP_SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1,
    SOTP_SOF_TIMESTAMPING_RX_HARDWARE = 1 << 2,
    SOTP_SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3,
    SOTP_SOF_TIMESTAMPING_SOFTWARE = 1 << 4,
    SOTP_SOF_TIMESTAMPING_RAW_HARDWARE = 1 << 6,
    SOTP_SOF_TIMESTAMPING_OPT_ID = 1 << 7,
    SOTP_SOF_TIMESTAMPING_TX_SCHED = 1 << 8,
    SOTP_SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11,
};

/// recvmmsg(2); returns the count or -1 with errno set.
int sotp_recvmmsg(int fd, sotp_mmsghdr *vec, unsigned int vlen, int flags, sotp_timespec *timeout);
/// sendmmsg(2); returns the count sent or -1 with errno set.
int sotp_sendmmsg(int fd, sotp_mmsghdr *vec, unsigned int vlen, int flags);
/// Pins the calling thread to one CPU; returns 0 or an errno value.
int sotp_pin_current_thread(int cpu);
/// Gives the calling thread SCHED_FIFO at `priority` (1…99), or normal scheduling for 0; 0 or an errno.
int sotp_set_realtime(int priority);
/// Names the calling thread (shown by top -H); at most 15 bytes are kept.
int sotp_set_thread_name(const char *name);
/// The CPU the calling thread runs on now.
int sotp_current_cpu(void);
/// Number of CPUs this process may run on.
int sotp_cpu_count(void);


/// Socket options used by the ICMP poller, fixed by the kernel ABI (checked in batch.c).
enum {
    SOTP_SO_TIMESTAMPNS = 35,
    SOTP_ICMP_FILTER = 1,
    SOTP_ICMPV6_FILTER = 1,
    SOTP_IP_PKTINFO = 8,
    SOTP_IPV6_TCLASS = 67,
    SOTP_IPV6_PKTINFO = 50,
};

/// A batch of messages for recvmmsg/sendmmsg with a buffer, an address and a control area each.
typedef struct sotp_batch sotp_batch;
/// count messages of bufsize bytes each; NULL when out of memory.
sotp_batch *sotp_batch_new(unsigned count, unsigned bufsize);
void sotp_batch_free(sotp_batch *b);
unsigned sotp_batch_count(const sotp_batch *b);
unsigned sotp_batch_bufsize(const sotp_batch *b);
/// Message i's buffer (bufsize bytes).
unsigned char *sotp_batch_buffer(sotp_batch *b, unsigned i);
/// recvmmsg into every message (EINTR retried); the count, or -1 with errno.
int sotp_batch_recv(int fd, sotp_batch *b, int flags);
/// Bytes received in message i (capped at bufsize), and whether the datagram was longer.
unsigned sotp_batch_length(const sotp_batch *b, unsigned i);
int sotp_batch_truncated(const sotp_batch *b, unsigned i);
/// The kernel receive time (SO_TIMESTAMPNS, CLOCK_REALTIME ns) of message i, or -1 if none came.
int64_t sotp_batch_rx_nanos(sotp_batch *b, unsigned i);
/// Message i's source: 4 with *v4 in host order, 6 with v6 filled, 0 if neither.
int sotp_batch_source(const sotp_batch *b, unsigned i, uint32_t *v4, unsigned char v6[16]);
/// Addresses message i to dst (host order) with len bytes; tos < 0 keeps the socket's; src 0 lets
/// the kernel choose.
void sotp_batch_set_v4(sotp_batch *b, unsigned i, uint32_t dst, unsigned len, int tos, uint32_t src);
/// The same for IPv6; src NULL lets the kernel choose.
void sotp_batch_set_v6(sotp_batch *b, unsigned i, const unsigned char dst[16], unsigned len, int tclass, const unsigned char *src);
/// sendmmsg of messages start..<start+count (EINTR retried); the count sent, or -1 with errno.
int sotp_batch_send(int fd, sotp_batch *b, unsigned start, unsigned count);
/// Raw ICMP type filters: only the types in pass_mask (bit n = type n) / pass_types reach the socket.
int sotp_icmp_filter_v4(int fd, uint32_t pass_mask);
int sotp_icmp_filter_v6(int fd, const uint8_t *pass_types, unsigned n);

#endif

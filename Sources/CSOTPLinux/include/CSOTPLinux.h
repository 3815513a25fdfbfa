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
    /// SCM_TS_OPT_ID (Linux 6.13, asm-generic value): a sendmsg control message with the u32 key the
    /// packet's SOF_TIMESTAMPING_OPT_ID timestamps report, instead of the socket's running counter.
    SOTP_SCM_TS_OPT_ID = 81,
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
    SOTP_SO_RXQ_OVFL = 40,
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
/// The kernel receive time of message i (CLOCK_REALTIME ns) from SO_TIMESTAMPNS, or from the software
/// field of SO_TIMESTAMPING's SCM_TIMESTAMPING; -1 if neither came.
int64_t sotp_batch_rx_nanos(sotp_batch *b, unsigned i);
/// The socket's cumulative queue-overflow drop count attached to message i (SO_RXQ_OVFL), or -1.
int64_t sotp_batch_rxq_ovfl(sotp_batch *b, unsigned i);
/// Message i's source: 4 with *v4 in host order, 6 with v6 filled, 0 if neither; *port in host order.
int sotp_batch_source(const sotp_batch *b, unsigned i, uint32_t *v4, unsigned char v6[16], uint16_t *port);
/// Addresses message i to dst:port (host order) with len bytes; tos < 0 keeps the socket's; src 0 lets
/// the kernel choose.
void sotp_batch_set_v4(sotp_batch *b, unsigned i, uint32_t dst, uint16_t port, unsigned len, int tos, uint32_t src);
/// The same for IPv6; src NULL lets the kernel choose.
void sotp_batch_set_v6(sotp_batch *b, unsigned i, const unsigned char dst[16], uint16_t port, unsigned len, int tclass, const unsigned char *src);
/// sendmmsg of messages start..<start+count (EINTR retried); the count sent, or -1 with errno.
int sotp_batch_send(int fd, sotp_batch *b, unsigned start, unsigned count);
/// Appends an SCM_TS_OPT_ID control message carrying `key` to message i, after what sotp_batch_set_v4/v6
/// wrote (call it after them). The socket must have SOF_TIMESTAMPING_OPT_ID on.
void sotp_batch_set_ts_key(sotp_batch *b, unsigned i, uint32_t key);
/// Whether the kernel takes SCM_TS_OPT_ID on this IPv4 ICMP socket (SOF_TIMESTAMPING_OPT_ID on): an echo
/// request to 127.0.0.1 with MSG_PROBE, which IPv4 raw and ping sockets route but never send. 1 or 0.
int sotp_ts_key_supported_v4(int fd);

/// What an error-queue message is (sotp_errq_entry).
enum {
    /// Anything else: a local error, another timestamp kind (scheduled, acked), missing control data.
    SOTP_ERRQ_OTHER = 0,
    /// A software transmit timestamp (SCM_TSTAMP_SND) with its SOF_TIMESTAMPING_OPT_ID key.
    SOTP_ERRQ_TX_SOFTWARE = 1,
    /// An ICMP or ICMPv6 error queued because IP_RECVERR/IPV6_RECVERR is on.
    SOTP_ERRQ_ICMP = 2,
};
/// recvmmsg batches of a socket's error queue (MSG_ERRQUEUE): small data buffers (timestamps come with
/// SOF_TIMESTAMPING_OPT_TSONLY, so without the packet) and room for the timestamp and extended-error cmsgs.
typedef struct sotp_errq sotp_errq;
/// count messages; NULL when out of memory.
sotp_errq *sotp_errq_new(unsigned count);
void sotp_errq_free(sotp_errq *q);
unsigned sotp_errq_count(const sotp_errq *q);
/// recvmmsg(MSG_ERRQUEUE | MSG_DONTWAIT) into every message (EINTR retried); the count, or -1 with errno
/// (EAGAIN when the queue is empty).
int sotp_errq_recv(int fd, sotp_errq *q);
/// Message i's kind. For SOTP_ERRQ_TX_SOFTWARE, *key is the OPT_ID key and *nanos the software time
/// (CLOCK_REALTIME ns); for SOTP_ERRQ_ICMP, *key is the ICMP type << 8 | code.
int sotp_errq_entry(const sotp_errq *q, unsigned i, uint32_t *key, int64_t *nanos);

/// Raw ICMP type filters: only the types in pass_mask (bit n = type n) / pass_types reach the socket.
int sotp_icmp_filter_v4(int fd, uint32_t pass_mask);
int sotp_icmp_filter_v6(int fd, const uint8_t *pass_types, unsigned n);

/// A classic BPF instruction (struct sock_filter).
typedef struct sotp_bpf_insn {
    uint16_t code;
    uint8_t jt;
    uint8_t jf;
    uint32_t k;
} sotp_bpf_insn;

/// AF_PACKET constants the capture probe uses, fixed by the kernel ABI (checked in packetring.c).
enum {
    SOTP_PACKET_OUTGOING = 4,
    SOTP_PACKET_FANOUT_HASH = 0,
    SOTP_PACKET_FANOUT_LB = 1,
    SOTP_PACKET_FANOUT_CPU = 2,
    /// The classic BPF load offset of the kernel's per-packet random number (SKF_AD_OFF + SKF_AD_RANDOM).
    SOTP_SKF_AD_RANDOM = -0x1000 + 56,
};

/// One packet in a TPACKET_V3 ring, valid until the next sotp_ring_next on the same ring.
typedef struct sotp_ring_packet {
    /// The frame from its link-layer header (the MAC header; for devices without one, the IP header).
    const unsigned char *data;
    /// Bytes in the ring (after the filter's snap length) and on the wire.
    uint32_t caplen;
    uint32_t len;
    /// Kernel receive time, CLOCK_REALTIME ns.
    int64_t nanos;
    /// Where the network header starts, from `data`.
    uint16_t net_offset;
    /// The ethertype (host order), sll_pkttype (4: sent by this host), the device's ARPHRD type.
    uint16_t protocol;
    uint8_t pkttype;
    uint8_t vlan_valid;
    uint16_t hatype;
    int32_t ifindex;
    /// The 802.1Q tag the NIC stripped (valid when vlan_valid).
    uint16_t vlan_tci;
} sotp_ring_packet;

/// An AF_PACKET socket with a TPACKET_V3 receive ring of block_count blocks of block_size bytes (a
/// multiple of the page size), blocks retired after timeout_ms when not full. Not bound yet (nothing
/// arrives before sotp_ring_bind). NULL on failure with *err the errno and *step the call that failed.
typedef struct sotp_ring sotp_ring;
sotp_ring *sotp_ring_open(unsigned block_size, unsigned block_count, unsigned timeout_ms,
                          int *err, const char **step);
/// Attaches a classic BPF program (SO_ATTACH_FILTER); 0 or an errno value.
int sotp_ring_attach_filter(sotp_ring *r, const sotp_bpf_insn *insns, unsigned count);
/// Binds to the interface (0: every interface) for all protocols; 0 or an errno value.
int sotp_ring_bind(sotp_ring *r, int ifindex);
/// Joins fanout group `group` (0: a new group with a kernel-chosen id) in `mode` (SOTP_PACKET_FANOUT_*);
/// the group's id in *assigned. 0 or an errno value.
int sotp_ring_join_fanout(sotp_ring *r, int group, int mode, int *assigned);
int sotp_ring_fd(const sotp_ring *r);
/// The next packet: 1 with *out filled, 0 when none came within timeout_ms (0: do not wait), -errno.
/// A block is handed back to the kernel once all its packets were returned.
int sotp_ring_next(sotp_ring *r, sotp_ring_packet *out, int timeout_ms);
/// PACKET_STATISTICS since the last call: packets seen (drops included), dropped for a full ring, and
/// times the queue was frozen. 0 or an errno value.
int sotp_ring_stats(sotp_ring *r, uint64_t *packets, uint64_t *drops, uint64_t *freezes);
void sotp_ring_close(sotp_ring *r);
/// if_nametoindex(3); 0 when there is no such interface.
int sotp_ifindex(const char *name);

#endif

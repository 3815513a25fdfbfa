// Linux calls and structs Glibc does not expose to Swift: recvmmsg/sendmmsg, CPU affinity and
// SO_TIMESTAMPING. The header must not define _GNU_SOURCE (that breaks Glibc's module); the wrappers in
// shim.c are compiled with it and the types here mirror the kernel's layout (checked there).
#ifndef CSOTPLINUX_H
#define CSOTPLINUX_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

/// Mirror of struct mmsghdr (sys/socket.h under _GNU_SOURCE).
typedef struct sotp_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
} sotp_mmsghdr;

/// Mirror of struct scm_timestamping (linux/errqueue.h): [0] software, [1] deprecated, [2] hardware.
typedef struct sotp_scm_timestamping {
    struct timespec ts[3];
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
int sotp_recvmmsg(int fd, sotp_mmsghdr *vec, unsigned int vlen, int flags, struct timespec *timeout);
/// sendmmsg(2); returns the count sent or -1 with errno set.
int sotp_sendmmsg(int fd, sotp_mmsghdr *vec, unsigned int vlen, int flags);
/// Pins the calling thread to one CPU; returns 0 or an errno value.
int sotp_pin_current_thread(int cpu);
/// Names the calling thread (shown by top -H); at most 15 bytes are kept.
int sotp_set_thread_name(const char *name);
/// The CPU the calling thread runs on now.
int sotp_current_cpu(void);
/// Number of CPUs this process may run on.
int sotp_cpu_count(void);
/// CMSG helpers, which are macros in C and so invisible to Swift.
struct cmsghdr *sotp_cmsg_firsthdr(struct msghdr *msg);
struct cmsghdr *sotp_cmsg_nxthdr(struct msghdr *msg, struct cmsghdr *cmsg);
unsigned char *sotp_cmsg_data(struct cmsghdr *cmsg);
size_t sotp_cmsg_space(size_t len);

#endif

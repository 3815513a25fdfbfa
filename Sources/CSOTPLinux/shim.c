// Wrappers for the Linux-only calls declared in CSOTPLinux.h, compiled with _GNU_SOURCE.
#include "CSOTPLinux.h"
#include <pthread.h>
#include <sched.h>
#include <errno.h>
#include <stddef.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>

#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

_Static_assert(sizeof(sotp_timespec) == sizeof(struct timespec), "timespec layout");
_Static_assert(sizeof(sotp_iovec) == sizeof(struct iovec), "iovec layout");
_Static_assert(offsetof(sotp_iovec, iov_len) == offsetof(struct iovec, iov_len), "iovec layout");
_Static_assert(sizeof(sotp_msghdr) == sizeof(struct msghdr), "msghdr layout");
_Static_assert(offsetof(sotp_msghdr, msg_namelen) == offsetof(struct msghdr, msg_namelen), "msghdr layout");
_Static_assert(offsetof(sotp_msghdr, msg_iov) == offsetof(struct msghdr, msg_iov), "msghdr layout");
_Static_assert(offsetof(sotp_msghdr, msg_iovlen) == offsetof(struct msghdr, msg_iovlen), "msghdr layout");
_Static_assert(offsetof(sotp_msghdr, msg_control) == offsetof(struct msghdr, msg_control), "msghdr layout");
_Static_assert(offsetof(sotp_msghdr, msg_controllen) == offsetof(struct msghdr, msg_controllen), "msghdr layout");
_Static_assert(offsetof(sotp_msghdr, msg_flags) == offsetof(struct msghdr, msg_flags), "msghdr layout");
_Static_assert(sizeof(sotp_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr layout");
_Static_assert(offsetof(sotp_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len), "mmsghdr layout");
_Static_assert(sizeof(sotp_scm_timestamping) == sizeof(struct scm_timestamping), "scm_timestamping layout");
_Static_assert(SOTP_SO_TIMESTAMPING == SO_TIMESTAMPING, "SO_TIMESTAMPING");
_Static_assert(SOTP_SOF_TIMESTAMPING_RX_SOFTWARE == SOF_TIMESTAMPING_RX_SOFTWARE, "flags");
_Static_assert(SOTP_SOF_TIMESTAMPING_OPT_TSONLY == SOF_TIMESTAMPING_OPT_TSONLY, "flags");

int sotp_recvmmsg(int fd, sotp_mmsghdr *vec, unsigned int vlen, int flags, sotp_timespec *timeout) {
    return recvmmsg(fd, (struct mmsghdr *)vec, vlen, flags, (struct timespec *)timeout);
}

int sotp_sendmmsg(int fd, sotp_mmsghdr *vec, unsigned int vlen, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)vec, vlen, flags);
}

int sotp_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int sotp_set_realtime(int priority) {
    struct sched_param sp = {.sched_priority = priority};
    return pthread_setschedparam(pthread_self(), priority > 0 ? SCHED_FIFO : SCHED_OTHER, &sp);
}

int sotp_set_thread_name(const char *name) {
    char buf[16];
    size_t i = 0;
    for (; i < 15 && name[i]; i++) buf[i] = name[i];
    buf[i] = 0;
    return pthread_setname_np(pthread_self(), buf);
}

int sotp_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
    return CPU_COUNT(&set);
}

int sotp_current_cpu(void) { return sched_getcpu(); }

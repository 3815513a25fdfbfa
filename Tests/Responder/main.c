// sotp-test-responder: answers ICMP and ICMPv6 echo requests inside a test network namespace a fixed delay
// after each request's kernel receive time, dropping a deterministic share, so poller tests see known RTT
// and loss without tc netem. Run it with the kernel's own echo replies turned off in that namespace.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/icmp6.h>
#include <sys/prctl.h>
#include <sys/socket.h>

// From <linux/icmp.h>, which cannot be included next to <netinet/in.h>: a raw ICMP socket option whose
// value is a bitmask of the ICMP types the socket should NOT receive.
#define RAW_ICMP_FILTER 1

enum {
    ICMP4_ECHO_REPLY = 0,
    ICMP4_ECHO_REQUEST = 8,
    ICMP6_ECHO_REQ = 128,
    ICMP6_ECHO_REP = 129,
    QUEUE_CAP = 65536,          // pending replies; at 10 000 requests/s this covers a 6.5 s delay
    DRAIN_MAX = 4096,           // packets read from one socket before the queue gets another look
    RX_BUF = 65536 + 128,       // the largest IPv4 datagram or ICMPv6 message, plus slack
    SOCK_BUF = 4 << 20,
};
// The last stretch before a deadline is slept with clock_nanosleep, not ppoll, so the reply leaves on time.
static const int64_t SPIN_NS = 500 * 1000;
static const int64_t LATE_NS = 1000 * 1000;

struct options {
    int64_t delay_us;
    int loss_pct;
    uint64_t seed;
    const char *ready_file;
    int64_t max_seconds;
    bool v4, v6;
    bool realtime;
};

struct pending {
    struct timespec deadline;
    int fd;
    struct sockaddr_storage to;
    socklen_t tolen;
    int src_family;             // AF_INET or AF_INET6 when a source address is pinned, else 0
    struct in_pktinfo pi4;
    struct in6_pktinfo pi6;
    size_t len;
    uint8_t *data;
};

struct counts {
    uint64_t received, answered, dropped, ignored, malformed, overflow, send_errors, late;
    int64_t max_late_ns;
};

static struct pending queue[QUEUE_CAP];
static size_t q_head, q_count;
static struct counts counts;
static uint8_t rx_buf[RX_BUF];

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t paused;
static int wake_pipe[2] = {-1, -1};

// MARK: - Time

static int64_t ts_ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

static struct timespec ns_ts(int64_t ns) {
    struct timespec t = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return t;
}

static int64_t now_ns(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return ts_ns(t);
}

// MARK: - Deterministic loss

static uint64_t rng_state;

static uint64_t splitmix64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static bool drop_in_block[100];
static int block_pos = 100;

/// Whether the next request is dropped: each block of 100 requests drops exactly loss_pct of them, at
/// positions a seeded Fisher-Yates shuffle picks, so any 100 consecutive blocks lose exactly that share.
static bool next_is_dropped(int loss_pct) {
    if (block_pos == 100) {
        int order[100];
        for (int i = 0; i < 100; i++) order[i] = i;
        for (int i = 99; i > 0; i--) {
            int j = (int)(splitmix64() % (uint64_t)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        memset(drop_in_block, 0, sizeof drop_in_block);
        for (int k = 0; k < loss_pct; k++) drop_in_block[order[k]] = true;
        block_pos = 0;
    }
    return drop_in_block[block_pos++];
}

// MARK: - Queue

static struct pending *queue_front(void) { return q_count ? &queue[q_head] : NULL; }

static void queue_pop(void) {
    free(queue[q_head].data);
    queue[q_head].data = NULL;
    q_head = (q_head + 1) % QUEUE_CAP;
    q_count--;
}

/// Pending replies die with a pause: a host that stops answering should not answer late once it resumes.
static void discard_pending(void) {
    while (q_count) {
        counts.ignored++;
        queue_pop();
    }
}

// MARK: - Packets

/// Counts a packet that is not a usable echo request; the first few get a line saying why.
static void malformed(const char *why, size_t len) {
    if (counts.malformed++ < 10) fprintf(stderr, "sotp-test-responder: ignored a packet of %zu bytes: %s\n", len, why);
}

static uint16_t inet_checksum(const uint8_t *p, size_t len) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1) sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

static void send_reply(const struct pending *p) {
    struct iovec iov = {.iov_base = p->data, .iov_len = p->len};
    union {
        char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_name = (void *)&p->to, .msg_namelen = p->tolen, .msg_iov = &iov, .msg_iovlen = 1};
    if (p->src_family) {
        bool v4 = p->src_family == AF_INET;
        size_t size = v4 ? sizeof p->pi4 : sizeof p->pi6;
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(size);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
        c->cmsg_type = v4 ? IP_PKTINFO : IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(size);
        memcpy(CMSG_DATA(c), v4 ? (const void *)&p->pi4 : (const void *)&p->pi6, size);
    }
    ssize_t r;
    do r = sendmsg(p->fd, &msg, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (counts.send_errors++ < 5) fprintf(stderr, "sotp-test-responder: sendmsg: %s\n", strerror(errno));
        return;
    }
    counts.answered++;
    int64_t late = now_ns(CLOCK_REALTIME) - ts_ns(p->deadline);
    if (late > counts.max_late_ns) counts.max_late_ns = late;
    if (late > LATE_NS) counts.late++;
}

static void send_due(void) {
    int64_t now = now_ns(CLOCK_REALTIME);
    struct pending *p;
    while ((p = queue_front()) && ts_ns(p->deadline) <= now) {
        if (!paused) send_reply(p);
        else counts.ignored++;
        queue_pop();
    }
}

/// Reads what one socket has queued (at most DRAIN_MAX packets) and queues a reply for each echo request
/// that is neither dropped nor arriving while paused. Anything malformed is counted and skipped.
static void drain(int fd, bool v4, const struct options *o) {
    for (int i = 0; i < DRAIN_MAX && !stop_signal; i++) {
        struct sockaddr_storage from = {0};
        union {
            char buf[512];
            struct cmsghdr align;
        } control;
        struct iovec iov = {.iov_base = rx_buf, .iov_len = sizeof rx_buf};
        struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = control.buf, .msg_controllen = sizeof control.buf};
        ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fprintf(stderr, "sotp-test-responder: recvmsg: %s\n", strerror(errno));
            return;
        }
        if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) { malformed("truncated by recvmsg", (size_t)n); continue; }

        struct timespec rx = {0, 0};
        bool have_rx = false;
        struct in_pktinfo pi4;
        struct in6_pktinfo pi6;
        bool have_pi = false;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS && c->cmsg_len >= CMSG_LEN(sizeof rx)) {
                memcpy(&rx, CMSG_DATA(c), sizeof rx);
                have_rx = true;
            } else if (v4 && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof pi4)) {
                memcpy(&pi4, CMSG_DATA(c), sizeof pi4);
                have_pi = true;
            } else if (!v4 && c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof pi6)) {
                memcpy(&pi6, CMSG_DATA(c), sizeof pi6);
                have_pi = true;
            }
        }
        if (!have_rx) rx = ns_ts(now_ns(CLOCK_REALTIME)); // should not happen: SO_TIMESTAMPNS is on

        // Find the ICMP message: IPv4 raw sockets deliver the IP header too, ICMPv6 ones do not.
        const uint8_t *icmp = rx_buf;
        size_t len = (size_t)n;
        if (v4) {
            if (len < 20 || rx_buf[0] >> 4 != 4) { malformed("no IPv4 header", len); continue; }
            size_t ihl = (size_t)(rx_buf[0] & 0x0F) * 4;
            size_t total = (size_t)rx_buf[2] << 8 | rx_buf[3];
            if (ihl < 20 || total < ihl + 8 || total > len) { malformed("IPv4 lengths leave no 8-byte ICMP header", len); continue; }
            icmp = rx_buf + ihl;
            len = total - ihl;
            if (icmp[0] != ICMP4_ECHO_REQUEST) continue; // the filter lets only requests through; be sure
            if (inet_checksum(icmp, len) != 0) { malformed("bad ICMP checksum", len); continue; }
        } else {
            if (len < 8) { malformed("shorter than an ICMPv6 echo header", len); continue; }
            if (icmp[0] != ICMP6_ECHO_REQ) continue;
        }
        if (from.ss_family != (v4 ? AF_INET : AF_INET6)) { malformed("unexpected source address family", len); continue; }

        counts.received++;
        if (paused) { counts.ignored++; continue; }
        if (next_is_dropped(o->loss_pct)) { counts.dropped++; continue; }
        if (q_count == QUEUE_CAP) { counts.overflow++; continue; }
        uint8_t *data = malloc(len);
        if (!data) { counts.overflow++; continue; }

        memcpy(data, icmp, len);
        data[0] = v4 ? ICMP4_ECHO_REPLY : ICMP6_ECHO_REP;
        data[1] = 0;
        data[2] = data[3] = 0;
        if (v4) { // the kernel fills the ICMPv6 checksum (IPV6_CHECKSUM is on for raw ICMPv6), not this one
            uint16_t sum = inet_checksum(data, len);
            data[2] = (uint8_t)(sum >> 8);
            data[3] = (uint8_t)sum;
        }
        struct pending *p = &queue[(q_head + q_count) % QUEUE_CAP];
        memset(p, 0, sizeof *p);
        p->deadline = ns_ts(ts_ns(rx) + o->delay_us * 1000);
        p->fd = fd;
        p->to = from;
        p->tolen = msg.msg_namelen;
        p->len = len;
        p->data = data;
        // Answer from the address that was asked, the way a host's own stack does.
        if (have_pi && v4) {
            p->src_family = AF_INET;
            p->pi4.ipi_spec_dst = pi4.ipi_spec_dst;
        } else if (have_pi && !IN6_IS_ADDR_MULTICAST(&pi6.ipi6_addr)) {
            p->src_family = AF_INET6;
            p->pi6 = pi6;
        }
        q_count++;
    }
}

// MARK: - Setup

static void on_signal(int sig) {
    int saved = errno;
    if (sig == SIGUSR1) paused = 1;
    else if (sig == SIGUSR2) paused = 0;
    else stop_signal = sig;
    char c = 0;
    ssize_t ignored = write(wake_pipe[1], &c, 1); // full pipe: a wakeup is pending anyway
    (void)ignored;
    errno = saved;
}

static void usage(const char *why) {
    fprintf(stderr,
            "sotp-test-responder: %s\n"
            "usage: sotp-test-responder [--delay-us N] [--loss-pct 0..100] [--seed S] [--family 4|6|both]\n"
            "                           [--ready-file PATH] [--max-seconds N] [--realtime]\n"
            "Answers ICMP/ICMPv6 echo requests N µs after their kernel receive time; drops exactly P of every\n"
            "100 requests (seeded positions). SIGUSR1 stops answering, SIGUSR2 answers again, SIGTERM/SIGINT\n"
            "exit. Exits by itself after --max-seconds (default 600) or when its parent exits. --realtime runs\n"
            "it at SCHED_FIFO priority 1 so busy CPUs do not delay replies.\n",
            why);
    exit(2);
}

static int64_t parse_int(const char *name, const char *s, int64_t min, int64_t max) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        char why[256];
        snprintf(why, sizeof why, "%s must be an integer %" PRId64 "...%" PRId64 ", got \"%s\"", name, min, max, s);
        usage(why);
    }
    return v;
}

static struct options parse_options(int argc, char **argv) {
    struct options o = {.delay_us = 0, .loss_pct = 0, .seed = 1, .ready_file = NULL, .max_seconds = 600,
                        .v4 = true, .v6 = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) usage("help");
        if (!strcmp(a, "--realtime")) {
            o.realtime = true;
            continue;
        }
        if (i + 1 >= argc) {
            char why[256];
            snprintf(why, sizeof why, "%s needs a value", a);
            usage(why);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--delay-us")) o.delay_us = parse_int(a, v, 0, 60 * 1000 * 1000);
        else if (!strcmp(a, "--loss-pct")) o.loss_pct = (int)parse_int(a, v, 0, 100);
        else if (!strcmp(a, "--seed")) o.seed = (uint64_t)parse_int(a, v, 0, INT64_MAX);
        else if (!strcmp(a, "--ready-file")) o.ready_file = v;
        else if (!strcmp(a, "--max-seconds")) o.max_seconds = parse_int(a, v, 1, 7 * 86400);
        else if (!strcmp(a, "--family")) {
            if (!strcmp(v, "4")) o.v6 = false;
            else if (!strcmp(v, "6")) o.v4 = false;
            else if (strcmp(v, "both")) usage("--family must be 4, 6 or both");
        } else {
            char why[256];
            snprintf(why, sizeof why, "unknown option %s", a);
            usage(why);
        }
    }
    return o;
}

static void die(const char *what) {
    fprintf(stderr, "sotp-test-responder: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void set_int_option(int fd, int level, int name, int value, const char *what) {
    if (setsockopt(fd, level, name, &value, sizeof value) < 0) die(what);
}

static void set_buffers(int fd) {
    // Root may exceed the rmem_max/wmem_max caps; anyone else gets what the caps allow.
    int size = SOCK_BUF;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

static int open_v4(void) {
    int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0) die("socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)");
    uint32_t filter = ~(UINT32_C(1) << ICMP4_ECHO_REQUEST);
    if (setsockopt(fd, SOL_RAW, RAW_ICMP_FILTER, &filter, sizeof filter) < 0) die("setsockopt ICMP_FILTER");
    set_int_option(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "setsockopt SO_TIMESTAMPNS");
    set_int_option(fd, IPPROTO_IP, IP_PKTINFO, 1, "setsockopt IP_PKTINFO");
    set_buffers(fd);
    return fd;
}

static int open_v6(void) {
    int fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (fd < 0) die("socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)");
    struct icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REQUEST, &filter);
    if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) < 0) die("setsockopt ICMP6_FILTER");
    set_int_option(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "setsockopt SO_TIMESTAMPNS");
    set_int_option(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "setsockopt IPV6_RECVPKTINFO");
    set_buffers(fd);
    return fd;
}

/// Warns when the namespace's kernel still answers echo requests itself: every probe would get two replies.
static void warn_if_kernel_echoes(const char *sysctl_path, const char *name) {
    FILE *f = fopen(sysctl_path, "r");
    if (!f) return;
    int c = fgetc(f);
    fclose(f);
    if (c == '0')
        fprintf(stderr, "sotp-test-responder: warning: %s=0, the kernel answers echo requests too "
                        "(sysctl -w %s=1 in this namespace)\n", name, name);
}

/// Writes the ready file under a temporary name and renames it, so a reader never sees it half-written.
static void write_ready_file(const char *path) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) { errno = ENAMETOOLONG; die("ready file"); }
    FILE *f = fopen(tmp, "w");
    if (!f) die("create ready file");
    fprintf(f, "%d\n", (int)getpid());
    if (fclose(f) != 0) die("write ready file");
    if (rename(tmp, path) < 0) die("rename ready file");
}

int main(int argc, char **argv) {
    struct options o = parse_options(argc, argv);
    rng_state = o.seed;
    pid_t parent = getppid();
    // Timer slack would let the kernel wake us up to 50 µs late; the delay is the thing under test.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    // On busy CPUs a normal thread wakes milliseconds late. The lowest real-time priority is enough to
    // come first; the loop only ever sleeps in ppoll or clock_nanosleep, so it cannot hog a CPU.
    if (o.realtime) {
        struct sched_param sp = {.sched_priority = 1};
        if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) < 0)
            fprintf(stderr, "sotp-test-responder: warning: --realtime: sched_setscheduler: %s\n", strerror(errno));
    }

    if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) < 0) die("pipe2");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    int signals[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2};
    sigset_t handled;
    sigemptyset(&handled);
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        if (sigaction(signals[i], &sa, NULL) < 0) die("sigaction");
        sigaddset(&handled, signals[i]);
    }
    // A blocked mask survives exec, and posix_spawn from a test's worker thread passes one on.
    if (sigprocmask(SIG_UNBLOCK, &handled, NULL) < 0) die("sigprocmask");

    struct pollfd fds[3];
    bool fd_is_v4[3];
    nfds_t nfds = 0;
    fds[nfds] = (struct pollfd){.fd = wake_pipe[0], .events = POLLIN};
    fd_is_v4[nfds++] = false;
    if (o.v4) {
        warn_if_kernel_echoes("/proc/sys/net/ipv4/icmp_echo_ignore_all", "net.ipv4.icmp_echo_ignore_all");
        fds[nfds] = (struct pollfd){.fd = open_v4(), .events = POLLIN};
        fd_is_v4[nfds++] = true;
    }
    if (o.v6) {
        warn_if_kernel_echoes("/proc/sys/net/ipv6/icmp/echo_ignore_all", "net.ipv6.icmp.echo_ignore_all");
        fds[nfds] = (struct pollfd){.fd = open_v6(), .events = POLLIN};
        fd_is_v4[nfds++] = false;
    }
    if (o.ready_file) write_ready_file(o.ready_file);
    fprintf(stderr, "sotp-test-responder: pid %d answering %s delay_us=%" PRId64 " loss_pct=%d seed=%" PRIu64 "%s\n",
            (int)getpid(), o.v4 && o.v6 ? "IPv4+IPv6" : o.v4 ? "IPv4" : "IPv6", o.delay_us, o.loss_pct, o.seed, o.realtime ? " realtime" : "");

    const char *why = "signal";
    int64_t end = now_ns(CLOCK_MONOTONIC) + o.max_seconds * 1000000000;
    bool was_paused = false;
    while (!stop_signal) {
        if (now_ns(CLOCK_MONOTONIC) >= end) { why = "--max-seconds reached"; break; }
        if (getppid() != parent) { why = "parent exited"; break; }
        if (paused != was_paused) {
            was_paused = paused;
            if (was_paused) discard_pending();
            fprintf(stderr, "sotp-test-responder: %s\n", was_paused ? "paused" : "resumed");
        }
        send_due();

        // Time to wait: until just before the next reply is due, at most 1 s so the checks above run.
        int64_t wait = 1000000000;
        struct pending *head = queue_front();
        if (head) {
            int64_t until = ts_ns(head->deadline) - now_ns(CLOCK_REALTIME);
            if (until <= SPIN_NS) {
                // Close to the deadline: read what arrived meanwhile, then sleep to the exact time.
                for (nfds_t i = 1; i < nfds; i++) drain(fds[i].fd, fd_is_v4[i], &o);
                struct timespec at = head->deadline;
                int rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, NULL);
                if (rc != 0 && rc != EINTR) { errno = rc; die("clock_nanosleep"); }
                continue;
            }
            wait = until - SPIN_NS < wait ? until - SPIN_NS : wait;
        }
        int64_t to_end = end - now_ns(CLOCK_MONOTONIC);
        if (to_end < wait) wait = to_end > 0 ? to_end : 0;
        struct timespec timeout = ns_ts(wait);
        int n = ppoll(fds, nfds, &timeout, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("ppoll");
        }
        if (fds[0].revents) {
            char sink[64];
            while (read(wake_pipe[0], sink, sizeof sink) > 0) {}
        }
        for (nfds_t i = 1; i < nfds; i++)
            if (fds[i].revents) drain(fds[i].fd, fd_is_v4[i], &o);
    }

    uint64_t pending_at_exit = q_count;
    while (q_count) queue_pop();
    if (o.ready_file) unlink(o.ready_file);
    fprintf(stderr,
            "sotp-test-responder: exit (%s): received=%" PRIu64 " answered=%" PRIu64 " dropped=%" PRIu64
            " ignored=%" PRIu64 " malformed=%" PRIu64 " overflow=%" PRIu64 " send_errors=%" PRIu64
            " pending_at_exit=%" PRIu64 " late_over_1ms=%" PRIu64 " max_late_us=%" PRId64 "\n",
            why, counts.received, counts.answered, counts.dropped, counts.ignored, counts.malformed, counts.overflow,
            counts.send_errors, pending_at_exit, counts.late, counts.max_late_ns / 1000);
    return 0;
}

// An AF_PACKET receive ring (TPACKET_V3) for the capture probe: the kernel fills blocks of packets in a
// shared mmap'ed area, the reader walks a block in place and hands it back, so a packet costs no syscall
// and no copy beyond the kernel's one into the ring. Declared in CSOTPLinux.h (sotp_ring_*).
#include "CSOTPLinux.h"
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>

_Static_assert(sizeof(sotp_bpf_insn) == sizeof(struct sock_filter), "sock_filter layout");
_Static_assert(offsetof(sotp_bpf_insn, k) == offsetof(struct sock_filter, k), "sock_filter layout");
_Static_assert(SOTP_PACKET_OUTGOING == PACKET_OUTGOING, "PACKET_OUTGOING");
_Static_assert(SOTP_PACKET_FANOUT_HASH == PACKET_FANOUT_HASH, "PACKET_FANOUT_HASH");
_Static_assert(SOTP_PACKET_FANOUT_CPU == PACKET_FANOUT_CPU, "PACKET_FANOUT_CPU");
_Static_assert(SOTP_PACKET_FANOUT_LB == PACKET_FANOUT_LB, "PACKET_FANOUT_LB");
_Static_assert(SOTP_SKF_AD_RANDOM == SKF_AD_OFF + SKF_AD_RANDOM, "SKF_AD_RANDOM");

struct sotp_ring {
    int fd;
    unsigned char *map;
    size_t map_size;
    unsigned block_size;
    unsigned block_count;
    /// The block being read, and where in it: packets left and the next packet's header.
    unsigned block;
    unsigned left;
    struct tpacket3_hdr *next;
    /// Whether `block` is held by the reader (must be handed back before moving on).
    int holding;
};

static int fail(int fd, const char **step, const char *what, int *err) {
    *err = errno;
    *step = what;
    if (fd >= 0) close(fd);
    return -1;
}

sotp_ring *sotp_ring_open(unsigned block_size, unsigned block_count, unsigned timeout_ms,
                          int *err, const char **step) {
    *err = 0;
    *step = "";
    // Protocol 0 at socket() so nothing is queued before the ring and filter are in place; bind sets ETH_P_ALL.
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) { fail(-1, step, "socket(AF_PACKET)", err); return NULL; }
    int version = TPACKET_V3;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
        fail(fd, step, "PACKET_VERSION (TPACKET_V3)", err);
        return NULL;
    }
    struct tpacket_req3 req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = block_size;
    req.tp_block_nr = block_count;
    req.tp_frame_size = 2048;
    req.tp_frame_nr = (unsigned)(((size_t)block_size * block_count) / 2048);
    req.tp_retire_blk_tov = timeout_ms;
    req.tp_feature_req_word = 0;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) {
        fail(fd, step, "PACKET_RX_RING", err);
        return NULL;
    }
    size_t size = (size_t)block_size * block_count;
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED) {
        // MAP_LOCKED fails under a low RLIMIT_MEMLOCK: the ring still works unlocked.
        map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
        if (map == MAP_FAILED) { fail(fd, step, "mmap of the ring", err); return NULL; }
    }
    sotp_ring *r = calloc(1, sizeof *r);
    if (!r) {
        munmap(map, size);
        errno = ENOMEM;
        fail(fd, step, "calloc", err);
        return NULL;
    }
    r->fd = fd;
    r->map = map;
    r->map_size = size;
    r->block_size = block_size;
    r->block_count = block_count;
    return r;
}

int sotp_ring_attach_filter(sotp_ring *r, const sotp_bpf_insn *insns, unsigned count) {
    struct sock_fprog prog = {.len = (unsigned short)count, .filter = (struct sock_filter *)insns};
    if (count == 0 || count > 4096) return EINVAL;
    return setsockopt(r->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0 ? 0 : errno;
}

int sotp_ring_bind(sotp_ring *r, int ifindex) {
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    return bind(r->fd, (struct sockaddr *)&sll, sizeof sll) == 0 ? 0 : errno;
}

int sotp_ring_join_fanout(sotp_ring *r, int group, int mode, int *assigned) {
    // Group 0 asks the kernel for an unused id (PACKET_FANOUT_FLAG_UNIQUEID), read back for the others,
    // so two probes (or another program's fanout) never share a group by accident.
    int arg = group == 0 ? (mode | PACKET_FANOUT_FLAG_UNIQUEID) << 16 : (group & 0xffff) | (mode << 16);
    if (setsockopt(r->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) return errno;
    int got = 0;
    socklen_t len = sizeof got;
    if (getsockopt(r->fd, SOL_PACKET, PACKET_FANOUT, &got, &len) != 0) return errno;
    *assigned = got & 0xffff;
    return 0;
}

int sotp_ring_fd(const sotp_ring *r) { return r->fd; }

static struct tpacket_block_desc *block_at(sotp_ring *r, unsigned i) {
    return (struct tpacket_block_desc *)(r->map + (size_t)i * r->block_size);
}

int sotp_ring_next(sotp_ring *r, sotp_ring_packet *out, int timeout_ms) {
    for (;;) {
        if (r->holding && r->left > 0) {
            struct tpacket3_hdr *h = r->next;
            out->data = (const unsigned char *)h + h->tp_mac;
            out->caplen = h->tp_snaplen;
            out->len = h->tp_len;
            out->nanos = (int64_t)h->tp_sec * 1000000000 + h->tp_nsec;
            out->net_offset = h->tp_net >= h->tp_mac ? (uint16_t)(h->tp_net - h->tp_mac) : 0;
            const struct sockaddr_ll *sll = (const struct sockaddr_ll *)((const unsigned char *)h + TPACKET_ALIGN(sizeof *h));
            out->protocol = ntohs(sll->sll_protocol);
            out->pkttype = sll->sll_pkttype;
            out->hatype = sll->sll_hatype;
            out->ifindex = sll->sll_ifindex;
            out->vlan_valid = (h->tp_status & TP_STATUS_VLAN_VALID) ? 1 : 0;
            out->vlan_tci = h->hv1.tp_vlan_tci;
            r->left--;
            r->next = (struct tpacket3_hdr *)((unsigned char *)h + h->tp_next_offset);
            return 1;
        }
        if (r->holding) {
            // Done with this block: hand it back to the kernel and move to the next.
            __atomic_store_n(&block_at(r, r->block)->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
            r->holding = 0;
            r->block = (r->block + 1) % r->block_count;
        }
        struct tpacket_block_desc *b = block_at(r, r->block);
        if ((__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) {
            if (timeout_ms == 0) return 0;
            struct pollfd p = {.fd = r->fd, .events = POLLIN | POLLERR};
            int n = poll(&p, 1, timeout_ms);
            if (n < 0 && errno != EINTR) return -errno;
            if (n > 0 && (p.revents & POLLERR)) {
                // A pending socket error (ENETDOWN when the interface went away): reading it clears it,
                // so the caller sees it once instead of poll returning at once forever.
                int soerr = 0;
                socklen_t len = sizeof soerr;
                getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
                if (soerr) return -soerr;
            }
            if ((__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) return 0;
        }
        r->holding = 1;
        r->left = b->hdr.bh1.num_pkts;
        r->next = (struct tpacket3_hdr *)((unsigned char *)b + b->hdr.bh1.offset_to_first_pkt);
    }
}

int sotp_ring_stats(sotp_ring *r, uint64_t *packets, uint64_t *drops, uint64_t *freezes) {
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof st;
    memset(&st, 0, sizeof st);
    if (getsockopt(r->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return errno;
    // The kernel resets these on every read; tp_packets already includes the drops.
    *packets = st.tp_packets;
    *drops = st.tp_drops;
    *freezes = st.tp_freeze_q_cnt;
    return 0;
}

void sotp_ring_close(sotp_ring *r) {
    if (!r) return;
    munmap(r->map, r->map_size);
    close(r->fd);
    free(r);
}

int sotp_ifindex(const char *name) { return (int)if_nametoindex(name); }

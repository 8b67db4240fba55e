// test_flood.py's generator: IPv4/UDP frames to DST_MAC / DST_IP:9 out of IFACE
// through a packet socket (no IP stack on the sending side, qdisc bypassed),
// at RATE frames a second for SECS seconds: sendmmsg in batches of 64, paced
// by CLOCK_MONOTONIC. Prints what the socket took and how long it took.
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

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: flood IFACE SRC_MAC DST_MAC SRC_IP DST_IP RATE SECS\n");
        return 2;
    }
    uint8_t frame[60] = {0};
    unsigned m[6];
    for (int k = 0; k < 2; ++k) {
        if (sscanf(argv[2 + k], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) return 2;
        for (int i = 0; i < 6; ++i) frame[(k == 0 ? 6 : 0) + i] = (uint8_t)m[i];
    }
    frame[12] = 0x08;
    uint8_t* ip = frame + 14;
    ip[0] = 0x45;
    ip[3] = 46;  // 20 + 8 + 18
    ip[8] = 64;
    ip[9] = 17;
    if (inet_pton(AF_INET, argv[4], ip + 12) != 1 || inet_pton(AF_INET, argv[5], ip + 16) != 1) return 2;
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    ip[10] = (uint8_t)(~sum >> 8);
    ip[11] = (uint8_t)~sum;
    uint8_t* udp = ip + 20;
    udp[0] = 0x9C;  // source port 40000
    udp[1] = 0x40;
    udp[3] = 9;  // discard
    udp[5] = 26;
    memcpy(udp + 8, "tern flood test", 15);
    const double rate = atof(argv[6]), secs = atof(argv[7]);
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    int one = 1;
    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(argv[1]), .sll_halen = 6};
    memcpy(to.sll_addr, frame, 6);
    if (to.sll_ifindex == 0) {
        perror(argv[1]);
        return 1;
    }
    enum { kBatch = 64 };
    struct iovec iov[kBatch];
    struct mmsghdr msgs[kBatch];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < kBatch; ++i) {
        iov[i].iov_base = frame;
        iov[i].iov_len = sizeof frame;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &to;
        msgs[i].msg_hdr.msg_namelen = sizeof to;
    }
    const double start = now(), end = start + secs;
    unsigned long sent = 0, tried = 0;
    for (double t = start; t < end; t = now()) {
        const double due = (t - start) * rate;
        if (tried + kBatch > due) {
            struct timespec ns = {0, 100000};
            nanosleep(&ns, NULL);
            continue;
        }
        const int n = sendmmsg(fd, msgs, kBatch, 0);
        tried += kBatch;  // the pace holds whatever the socket took
        if (n > 0) sent += (unsigned long)n;
    }
    printf("sent %lu tried %lu seconds %.3f\n", sent, tried, now() - start);
    return 0;
}

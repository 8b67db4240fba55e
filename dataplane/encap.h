// Header building for IPIP encapsulation and generated ICMP, over plain
// byte buffers (no mbufs, no EAL), so tests check them byte by byte. The
// checksums are DPDK's (rte_ipv4_cksum, rte_raw_cksum, rte_ipv6_phdr_cksum).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tern::dp {

// Writes a 20-byte outer IPv4 header (protocol 4) for the IPv4 packet at
// `inner` of `inner_len` bytes: TOS (DSCP and ECN) and DF copied from the
// inner header, the inner IP ID reused, TTL 64, checksum set.
void write_outer_ipv4(uint8_t* out, const uint8_t* inner, uint16_t inner_len, const uint8_t src[4],
                      const uint8_t dst[4]);

// Writes a 40-byte outer IPv6 header (next header 41) for the IPv6 packet at
// `inner`: traffic class copied, flow label from `flow_hash` (RFC 6438), hop
// limit 64.
void write_outer_ipv6(uint8_t* out, const uint8_t* inner, uint16_t inner_len, const uint8_t src[16],
                      const uint8_t dst[16], uint32_t flow_hash);

// The address at position `hash` within prefix `base`/`len` (family 4 or 6):
// base | (hash mod 2^(host bits)), host bits capped at 32.
void pick_in_prefix(const uint8_t* base, uint8_t len, uint8_t family, uint32_t hash, uint8_t* out);

// ICMP "fragmentation needed" (type 3, code 4) from `src` (the VIP) to the
// sender of the IPv4 packet `orig` (`orig_len` bytes available), quoting as
// much of it as fits in a 576-byte datagram, with next-hop MTU `mtu`.
// Writes the whole IPv4 packet to `out` (capacity >= 576) and returns its length.
size_t write_icmp4_frag_needed(uint8_t* out, const uint8_t* orig, size_t orig_len, uint16_t mtu, const uint8_t src[4]);

// ICMPv6 "packet too big" (type 2) from `src` to the sender of `orig`,
// quoting as much as fits in 1280 bytes. `out` capacity >= 1280.
size_t write_icmp6_packet_too_big(uint8_t* out, const uint8_t* orig, size_t orig_len, uint32_t mtu,
                                  const uint8_t src[16]);

// Turns an ICMP echo request (IPv4 packet at `ip`, `len` bytes) into its
// reply in place: addresses swapped, TTL 64, type 0, checksums fixed.
void icmp4_echo_to_reply(uint8_t* ip, size_t len);
// The same for ICMPv6 (type 128 -> 129), hop limit 64.
void icmp6_echo_to_reply(uint8_t* ip, size_t len);

}  // namespace tern::dp

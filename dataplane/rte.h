// The one place the DPDK headers the dataplane needs enter Tern. DPDK
// 22.11's inline functions use compound assignment on volatile objects,
// which C++20 deprecates (-Wvolatile); that warning, and only that one, is
// silenced for them. The console's rte_cmdline headers and rte_telemetry.h
// compile clean under C++20 and are included only where they are used
// (control/ops/console.cpp, control/ops/cmdline_table.cpp, control/ops/telemetry.cpp).
#pragma once

#pragma GCC diagnostic push
#if defined(__clang__)  // clang calls it -Wdeprecated-volatile (the fuzz build, docs/fuzzing.md)
#pragma GCC diagnostic ignored "-Wdeprecated-volatile"
#else
#pragma GCC diagnostic ignored "-Wvolatile"
#endif
#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_tcp.h>
#include <rte_thash.h>
#include <rte_udp.h>
#pragma GCC diagnostic pop

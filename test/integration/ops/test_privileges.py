#!/usr/bin/python3
"""Least privilege on a running `tern run` (net_af_packet on a veth in a
network namespace this test makes, so the exception path is a real TAP):
once started, every thread holds only cap_net_admin, cap_net_bind_service,
cap_setuid, cap_setgid and cap_kill (effective, permitted, bounding; no
inheritable or ambient ones) and has no_new_privs; after the drop a reload
still moves the node's address on the TAP and the BGP listener to port 178,
a peer added by the reload gets BGP's OPEN, RunCommand checks run as nobody
and one that hangs is killed at its timeout. Started within the systemd
unit's CapabilityBoundingSet and NoNewPrivileges (by setpriv), it starts and
listens on BGP's port. With --keep-privileges nothing is dropped."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402

A = lib.args()
PID = os.getpid()
T = f"pv{PID % 100000}"
NS = f"{T}ns"
TMP = tempfile.mkdtemp(prefix="tern-priv-")
os.chmod(TMP, 0o1777)  # the RunCommand checks run as nobody and write here
TERN = os.path.join(A.build, "tern")
CFG = os.path.join(TMP, "tern.yaml")
SOCK = os.path.join(TMP, "tern.sock")
FLAG = os.path.join(TMP, "up")
HANG_PID = os.path.join(TMP, "hang.pid")
UID_FILE = os.path.join(TMP, "uid")
PEER_PORT = 10179
# capabilities(7): kill 5, setgid 6, setuid 7, net_bind_service 10, net_admin 12.
KEPT = (1 << 5) | (1 << 6) | (1 << 7) | (1 << 10) | (1 << 12)


def config(node_ip, listen_port, peer):
    peers = f"\n    - {{address: 127.0.0.1, asn: 64601, port: {PEER_PORT}, connect_retry: 1}}" if peer else " []"
    return f"""node: {{name: priv{PID}, ipv4: {node_ip}}}
ports: [{{name: p0, device: "net_af_packet0,iface={T}a", subnets: [10.97.0.0/24]}}]
console: {{socket: {SOCK}}}
http: {{address: 127.0.0.1, port: 9090}}
bgp:
  local_asn: 64600
  listen_address: 127.0.0.1
  listen_port: {listen_port}
  drain_time: 0
  peers:{peers}
neighbors:
  - {{ip: 10.97.0.11, mac: "02:00:00:00:00:11"}}
services:
  - name: web
    vip: 192.0.2.1
    port: 80
    monitors:
      RunCommand: {{command: /bin/sh, arguments: ["-c", "id -u > {UID_FILE}; test -e {FLAG}"], interval: 0.3}}
    realservers:
      - {{host: a, ip: 10.97.0.11}}
  - name: hang
    vip: 192.0.2.1
    port: 81
    monitors:
      RunCommand: {{command: /bin/sh, arguments: ["-c", "echo $$ > {HANG_PID}; exec sleep 1000"], interval: 1,
                   timeout: 0.5}}
    realservers:
      - {{host: b, ip: 10.97.0.11}}
"""


def sh(*cmd, check=False):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def nsx(*cmd, check=False):
    return sh("ip", "netns", "exec", NS, *cmd, check=check)


def status_sets(pid):
    """Per thread of `pid`: its CapEff, CapPrm, CapBnd, CapInh, CapAmb and NoNewPrivs."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                kv = dict(line.split(":", 1) for line in f if ":" in line)
        except FileNotFoundError:
            continue
        out[int(tid)] = {k: kv[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb", "NoNewPrivs")}
    return out


def wait_log(log, text, timeout, start=0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(text in l for l in log[start:]):
            return True
        time.sleep(0.05)
    return False


def start(extra=(), prefix=()):
    log = []
    tern = subprocess.Popen(["ip", "netns", "exec", NS, *prefix, TERN, "run", "--config", CFG, *extra, "--", "--no-huge", "-m",
                             "512", "--no-shconf", "--lcores", f"(0-1)@({CPUS})", "--file-prefix", f"tern-priv-{PID}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [log.append(l.rstrip()) for l in tern.stdout], daemon=True).start()
    return tern, log


def stop(tern):
    tern.send_signal(signal.SIGTERM)
    try:
        return tern.wait(timeout=30)
    except subprocess.TimeoutExpired:
        tern.kill()
        return tern.wait()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def bgp_open_from_tern(timeout):
    """Listens on the peer's port in the namespace; the first message tern
    sends there, as (marker ok, type), or None."""
    code = (f"import socket, sys\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('127.0.0.1', {PEER_PORT})); s.listen(); s.settimeout({timeout})\n"
            f"c, _ = s.accept(); c.settimeout(5); d = b''\n"
            f"while len(d) < 19:\n    b = c.recv(4096)\n    if not b: break\n    d += b\n"
            f"print(d[:16] == b'\\xff' * 16, d[18] if len(d) > 18 else -1)\n")
    r = nsx(sys.executable, "-c", code)
    parts = r.stdout.split()
    return (parts[0] == "True", int(parts[1])) if len(parts) == 2 else None


CPUS = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
tern = None
try:
    sh("ip", "netns", "add", NS, check=True)
    nsx("ip", "link", "set", "lo", "up", check=True)
    nsx("ip", "link", "add", f"{T}a", "type", "veth", "peer", "name", f"{T}b", check=True)
    nsx("ip", "link", "set", f"{T}a", "up", check=True)
    nsx("ip", "link", "set", f"{T}b", "up", check=True)
    with open(CFG, "w") as f:
        f.write(config("10.97.0.1", 179, peer=False))
    open(FLAG, "w").close()

    tern, log = start()
    dropped = wait_log(log, "privileges: kept", 60)
    lib.check("tern run logs what it kept", dropped and any(
        "privileges: kept cap_kill,cap_setgid,cap_setuid,cap_net_bind_service,cap_net_admin" in l for l in log),
        "\n".join(log))
    if not dropped:
        raise SystemExit
    sets = status_sets(tern.pid)
    want = f"{KEPT:016x}"
    bad = {tid: s for tid, s in sets.items()
           if (s["CapEff"], s["CapPrm"], s["CapBnd"], s["CapInh"], s["CapAmb"], s["NoNewPrivs"]) !=
           (want, want, want, "0" * 16, "0" * 16, "1")}
    lib.check(f"every thread ({len(sets)}) holds only the kept capabilities, with no_new_privs",
              len(sets) >= 3 and not bad, f"want {want}: {bad}")

    # Health checks after the drop: as nobody; a hanging one killed at its timeout.
    n = len(log)
    nobody = sh("id", "-u", "nobody").stdout.strip()
    if os.path.exists(UID_FILE):
        os.unlink(UID_FILE)  # a run from before the check of the sets
    end = time.monotonic() + 5
    uid = ""
    while time.monotonic() < end and not uid:
        try:
            with open(UID_FILE) as f:
                uid = f.read().strip()
        except FileNotFoundError:
            time.sleep(0.05)
    lib.check("RunCommand runs as nobody after the drop", uid == nobody, f"uid {uid!r}")
    end = time.monotonic() + 5
    hang = None
    while time.monotonic() < end and hang is None:
        try:
            with open(HANG_PID) as f:
                hang = int(f.read().strip())
        except (FileNotFoundError, ValueError):
            time.sleep(0.05)
    lib.check("a hanging check times out", wait_log(log, "timed out after 0.5 s", 5, n), "\n".join(log[n:]))
    time.sleep(0.3)
    lib.check("the hanging check (nobody's process) is killed", hang is not None and not alive(hang), f"pid {hang}")
    os.unlink(FLAG)
    lib.check("a failing check after the drop is seen", wait_log(log, "exit status 1", 5, n), "\n".join(log[n:]))

    # A reload after the drop: the TAP's address, the BGP listener on a
    # privileged port, a new peer.
    with open(CFG, "w") as f:
        f.write(config("10.97.0.2", 178, peer=True))
    n = len(log)
    tern.send_signal(signal.SIGHUP)
    lib.check("the reload is applied", wait_log(log, "reloaded", 10, n), "\n".join(log[n:]))
    addrs = nsx("ip", "-4", "-o", "addr", "show", "dev", "tern-p0").stdout
    lib.check("the reload moves the node's address on the TAP (cap_net_admin)",
              "10.97.0.2/" in addrs and "10.97.0.1/" not in addrs, addrs + "\n".join(log[n:]))
    time.sleep(0.3)
    listening = nsx("ss", "-Hltn", "sport", "= :178").stdout
    lib.check("the BGP listener moves to port 178 (cap_net_bind_service)", "127.0.0.1:178" in listening,
              listening + "\n".join(log[n:]))
    lib.check("a BGP peer added by the reload gets tern's OPEN", bgp_open_from_tern(10) == (True, 1),
              "\n".join(log[n:]))
    lib.check("tern run still runs", tern.poll() is None, "\n".join(log))
    lib.check("tern run stops cleanly (exit 0)", stop(tern) == 0, "\n".join(log[-20:]))
    lib.check("the TAP is gone after the stop", "tern-p0" not in nsx("ip", "-o", "link").stdout, "")

    # Started as systemd starts it: the unit's CapabilityBoundingSet and
    # NoNewPrivileges (setpriv does what the unit's keys do) suffice for the
    # EAL, the TAP, af_packet and BGP's port 179.
    with open(os.path.join(lib.ROOT, "dist", "tern.service.in")) as f:
        bset = next(l for l in f if l.startswith("CapabilityBoundingSet=")).split("=", 1)[1].split()
    with open(CFG, "w") as f:
        f.write(config("10.97.0.1", 179, peer=True))
    setpriv = ["setpriv", "--no-new-privs", "--inh-caps=-all",
               "--bounding-set=-all," + ",".join("+" + c[4:].lower() for c in bset), "--"]
    tern, log = start(prefix=setpriv)
    up = wait_log(log, "privileges: kept", 60)
    lib.check(f"tern run starts within the unit's bounding set ({len(bset)} capabilities) and no_new_privs",
              up and tern.poll() is None and any("privileges: kept cap_kill,cap_setgid,cap_setuid,"
                                                  "cap_net_bind_service,cap_net_admin" in l for l in log),
              "\n".join(log))
    listening = nsx("ss", "-Hltn", "sport", "= :179").stdout
    lib.check("... with its BGP listener on port 179", "127.0.0.1:179" in listening, listening)
    lib.check("... and stops cleanly", stop(tern) == 0, "\n".join(log[-20:]))

    # --keep-privileges: nothing dropped (the check above can fail).
    with open(CFG, "w") as f:
        f.write(config("10.97.0.1", 179, peer=False))
    tern, log = start(["--keep-privileges"])
    up = wait_log(log, "console on", 60)
    time.sleep(0.5)
    sets = status_sets(tern.pid) if up else {}
    main = sets.get(tern.pid, {})
    lib.check("--keep-privileges keeps every capability",
              up and main.get("CapEff") == sh("grep", "CapEff", "/proc/self/status").stdout.split()[1] and
              main.get("NoNewPrivs") == "0" and not any("privileges: kept" in l for l in log), f"{main}")
    lib.check("tern run --keep-privileges stops cleanly", stop(tern) == 0, "\n".join(log[-20:]))
    tern = None
finally:
    if tern is not None and tern.poll() is None:
        tern.kill()
        tern.wait()
    sh("ip", "netns", "del", NS)
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()

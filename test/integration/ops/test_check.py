#!/usr/bin/python3
"""`tern check` on what enters from outside (issue 16): a service with more
servers than a Maglev ring can index (65,535) is an error naming the limit,
where it used to pass and then fail an assertion in the ring build; a
world-readable config holding a BGP MD5 password and an HTTP API bound
beyond loopback are warnings (exit 0)."""
import os
import shutil
import subprocess
import tempfile

import lib

a = lib.args()
TERN = os.path.join(a.build, "tern")
work = tempfile.mkdtemp(prefix="tern-check-")
HEAD = "node: {name: a, ipv4: 10.0.0.1}\nports: [{name: p0, device: net_null0}]\n"


def check(text, mode=0o600):
    path = os.path.join(work, "tern.yaml")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return subprocess.run([TERN, "check", "--config", path], capture_output=True, text=True, timeout=300)


def big(n):
    rows = "".join(f"      - {{host: h{i}, ip: 10.{128 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}}}\n" for i in range(n))
    return HEAD + ("services:\n  - name: big\n    vip: 192.0.2.1\n    port: 80\n    table_size: 1000003\n"
                   "    realservers:\n" + rows)


try:
    r = check(big(65535))
    lib.check("65,535 servers in one service: an error naming the ring's limit",
              r.returncode == 1 and "services[0].realservers" in r.stderr and "65535 servers; at most 65534" in r.stderr,
              f"rc={r.returncode} {r.stderr[-500:]}")
    r = check(big(65534))
    lib.check("65,534 servers pass", r.returncode == 0 and "65534 real servers" in r.stdout,
              f"rc={r.returncode} {r.stderr[-500:]}")

    svc = "services: [{name: web, vip: 192.0.2.1, port: 80, realservers: [{host: a, ip: 10.0.0.2}]}]\n"
    bgp = "bgp: {local_asn: 64600, peers: [{address: 10.0.0.9, asn: 64601, password: s3cret}]}\n"
    r = check(HEAD + svc + bgp, 0o644)
    lib.check("a world-readable config with a BGP password: a warning, exit 0",
              r.returncode == 0 and "readable by every user (mode 0644)" in r.stderr and
              "bgp.peers[0].password" in r.stderr, f"rc={r.returncode} {r.stderr}")
    r = check(HEAD + svc + bgp, 0o640)
    lib.check("mode 0640: no warning", r.returncode == 0 and r.stderr == "", f"rc={r.returncode} {r.stderr}")
    r = check(HEAD + svc + "http: {address: 0.0.0.0}\n")
    lib.check("an HTTP API on 0.0.0.0: a warning, exit 0",
              r.returncode == 0 and "http.address 0.0.0.0" in r.stderr, f"rc={r.returncode} {r.stderr}")
finally:
    shutil.rmtree(work, ignore_errors=True)
lib.done()

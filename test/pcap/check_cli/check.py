#!/usr/bin/python3
"""check_cli: `tern check` on the example (exit 0, "OK") and on a file with several
errors (exit non-zero, every error on its own line as file:line:column: path: message),
`tern replay` refusing a bad config without touching its outputs, and `tern --version`
(the build's git description)."""

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402

BAD = """node: {name: lb, ipv4: 10.0.0.300}
ports: [{name: up, device: "0000:3b:00.0"}]
services:
  - name: web
    vip: 192.0.2.1
    port: 80
    realservers:
      - {host: a, ip: 10.0.0.21, weight: 70000}
      - {host: a, ip: "2001:db8::1"}
"""


def run(*args):
    return subprocess.run([str(tp.tern_path()), *args], capture_output=True, text=True, timeout=60)


def check(case, work):
    good = run("check", "--config", str(tp.REPO / "conf" / "example.yaml"))
    tp.expect(good.returncode == 0, f"tern check on the example exited {good.returncode}: {good.stderr}")
    tp.expect("OK" in good.stdout, f"no OK line: {good.stdout!r}")
    bad_path = work / "bad.yaml"
    bad_path.write_text(BAD)
    bad = run("check", "--config", str(bad_path))
    tp.expect(bad.returncode != 0, "tern check accepted a bad config")
    lines = [l for l in bad.stderr.splitlines() if l.startswith(str(bad_path) + ":")]
    want = [(1, "node.ipv4"), (8, "services[0].realservers[0].weight"),
            (9, "services[0].realservers[1].host"), (9, "services[0].realservers[1].ip")]
    for line, path in want:
        pat = re.compile(re.escape(str(bad_path)) + rf":{line}:\d+: {re.escape(path)}: ")
        tp.expect(any(pat.match(l) for l in lines), f"no error for {path} at line {line}:\n{bad.stderr}")
    out = work / "out.pcap"
    rep = run("replay", "--config", str(bad_path), "--in", str(tp.REPO / "conf" / "example.pcap"),
              "--out", str(out))
    tp.expect(rep.returncode != 0 and not out.exists(), "tern replay ran with a bad config")
    ver = run("--version")
    tp.expect(ver.returncode == 0 and re.fullmatch(r"tern [0-9A-Za-z][\w.+-]*\n", ver.stdout) is not None
              and "VCS_TAG" not in ver.stdout, f"tern --version: {ver.returncode} {ver.stdout!r} {ver.stderr!r}")
    return [f"{len(lines)} errors reported, replay refused", ver.stdout.strip()]


if __name__ == "__main__":
    tp.main(check)

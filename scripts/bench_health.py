#!/usr/bin/python3
"""scripts/bench-health's body: see that script."""
import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--servers", type=int, default=10000)
ap.add_argument("--seconds", type=int, default=60)
ap.add_argument("--interval", type=float, default=1.0)
ap.add_argument("--out", default="docs/bench/health.md")
a = ap.parse_args()

work = tempfile.mkdtemp(prefix="tern-bench-health-")
port = 18080
nginx_conf = f"""
worker_processes 1;
worker_rlimit_nofile 200000;
pid {work}/nginx.pid;
error_log {work}/error.log crit;
events {{ worker_connections 100000; multi_accept on; }}
http {{
    access_log off;
    client_header_timeout 3600s;
    keepalive_timeout 0;
    server {{ listen {port}; location / {{ return 200 "ok\\n"; }} }}
}}
"""
conf_path = os.path.join(work, "nginx.conf")
with open(conf_path, "w") as f:
    f.write(nginx_conf)

servers = []
for i in range(a.servers):
    servers.append((f"s{i:05d}", f"127.1.{i // 250}.{i % 250 + 1}"))
yaml = ["node: {name: bench, ipv4: 10.0.0.1}", "ports: [{name: p0, device: net_null0}]", "services:",
        "  - name: bench", "    vip: 192.0.2.1", f"    port: {port}", f"    table_size: 1000003",
        "    monitors:",
        f"      ProxyFetch: {{url: \"http://bench.test/\", interval: {a.interval}, timeout: {a.interval * 0.9}}}",
        "      IdleConnection: {}",
        "    realservers:"]
yaml += [f"      - {{host: {h}, ip: {ip}}}" for h, ip in servers]
cfg = os.path.join(work, "tern.yaml")
with open(cfg, "w") as f:
    f.write("\n".join(yaml) + "\n")

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
nginx = subprocess.Popen(["nginx", "-c", conf_path, "-p", work, "-g", "daemon off;"])
time.sleep(1)
probe = subprocess.Popen([os.path.join(a.build, "control", "tern-health-probe"), "--config", cfg, "--quiet",
                          "--stats-every", "5", "--duration", str(a.seconds)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
lines = []
for line in probe.stdout:
    print(line.rstrip(), flush=True)
    lines.append(line.strip())
probe.wait()
err = probe.stderr.read()
nginx.terminate()
nginx.wait()
subprocess.run(["rm", "-rf", work])
if probe.returncode != 0:
    print(err)
    raise SystemExit(f"tern-health-probe exited {probe.returncode}")

rows = []
for l in lines:
    m = dict(re.findall(r"(\w+)=([^ ]+)", l))
    if l.startswith("stats ") and m:
        rows.append(m)
steady = rows[len(rows) // 3:] or rows  # after the first connections settle
rate = statistics.median(float(r["rate"].rstrip("/s")) for r in steady)
cpu = statistics.median(float(r["cpu"].rstrip("%")) for r in steady)
last = rows[-1]
expected = a.servers / a.interval
cpuinfo = platform.processor() or "?"
try:
    with open("/proc/cpuinfo") as f:
        model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
except (OSError, StopIteration):
    model = cpuinfo
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
report = f"""# Health checks benchmark

`scripts/bench-health --servers {a.servers} --seconds {a.seconds}` at commit {commit}: {a.servers} servers x 2
monitors (ProxyFetch every {a.interval} s with a {a.interval * 0.9:.1f} s timeout, IdleConnection held open),
against one nginx worker answering on 127.1.0.0/16 (all loopback), run by `tern-health-probe`: the monitors
and the single-threaded Asio loop `tern run`'s control thread runs. Machine: {os.cpu_count()} vCPUs, {model};
nginx and the probe share them.

| figure | value |
|---|---|
| monitors | {last['monitors']} |
| up / down at the end | {last['up']} / {last['down']} |
| checks per second (median of 5 s windows after warm-up; ProxyFetch's, IdleConnection counts only its connects; ideal {expected:.0f}) | {rate:.0f} |
| control thread CPU (median, % of one core) | {cpu:.1f} |
| check latency p50 / p90 / p99 over the whole run, warm-up included (bucket upper bounds, s) | {last['p50']} / {last['p90']} / {last['p99']} |
| failed checks (all windows) | {last['failures']} |

Every 5 s window:

```
{chr(10).join(lines)}
```
"""
os.makedirs(os.path.dirname(a.out), exist_ok=True)
with open(a.out, "w") as f:
    f.write(report)
print(f"wrote {a.out}")

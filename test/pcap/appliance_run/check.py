#!/usr/bin/python3
"""appliance_run: `tern run` (not replay) on vdevs. The port is a pcap PMD reading
dr_basic's input; the exception path is the TAP interface tern run creates, inside a
network namespace this test makes (and deletes). After SIGTERM the port's TX capture
must hold every VIP frame DR-forwarded to a server of its service, exactly as
`tern replay` forwards it, and tern run must exit 0 and print its counters."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import ternpcap as tp  # noqa: E402
import yaml  # noqa: E402


def check(case, work):
    src = case.parent / "dr_basic"
    inp_path = work / "in.pcap"
    inp_path.write_bytes((src / "in.pcap").read_bytes())
    out_path = work / "out.pcap"
    tp.expect("," not in str(work), "work dir path has a comma")
    conf = yaml.safe_load((src / "tern.yaml").read_text())
    conf["ports"][0]["device"] = f"net_pcap0,rx_pcap={inp_path},tx_pcap={out_path}"
    cfg_path = work / "tern.yaml"
    cfg_path.write_text(yaml.safe_dump(conf))
    cfg = tp.load_config(cfg_path)
    inp = tp.read_pcap(inp_path)

    ns = f"ternrun{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        cmd = ["ip", "netns", "exec", ns, str(tp.tern_path()), "run", "--config", str(cfg_path), "--",
               "--no-huge", "-m", "512", "--no-shconf", "--no-telemetry", "--lcores", f"(0-1)@({cpus})",
               "--file-prefix", f"tern-run-test-{os.getpid()}"]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # The pcap PMD reads the whole file at once; wait until OUT stops growing.
        last, stable = -1, 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.5)
            size = out_path.stat().st_size if out_path.exists() else -1
            stable = stable + 1 if size == last and size > 0 else 0
            last = size
            if stable >= 4:
                break
        if p.poll() is not None:
            tp.fail(f"tern run exited early with {p.returncode}:\n{p.communicate()[0]}")
        p.send_signal(signal.SIGTERM)
        try:
            output, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            tp.fail("tern run did not stop within 30 s of SIGTERM")
        (work / "run.log").write_text(output)
        tp.expect(p.returncode == 0, f"tern run exited with {p.returncode}:\n{output}")
        tp.expect("forwarded where:" in output, f"tern run printed no counters:\n{output}")
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)

    out = tp.read_pcap(out_path)
    # What replay forwards is what run must forward (the kernel may add its own
    # frames through the TAP, e.g. IPv6 router solicitations: those are not VIP frames).
    r = tp.replay(case.parent / "dr_basic" / "tern.yaml", src / "in.pcap", work, tag="replay")
    want = sorted(rec.data for rec in r.out)
    got = sorted(rec.data for rec in out
                 if rec.data[6:12] == cfg.port_mac and cfg.service_for(tp.flow_of(rec.data)) is not None)
    tp.expect(len(got) == len(want), f"tern run forwarded {len(got)} VIP frames, replay {len(want)}")
    tp.expect(got == want, "tern run and tern replay forwarded different frames")
    return [f"{len(inp)} in, {len(got)} forwarded by tern run, same as replay"]


if __name__ == "__main__":
    tp.main(check)

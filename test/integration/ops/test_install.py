#!/usr/bin/python3
"""`meson install` into a DESTDIR puts tern, its tools, the systemd unit
(paths filled in) and the example config in place; the installed config
passes `tern check`; the unit passes `systemd-analyze verify`. Also
scripts/setup-host, without changing this machine: --dry-run and its
argument errors."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402

A = lib.args()
TMP = tempfile.mkdtemp(prefix="tern-install-")
DEST = os.path.join(TMP, "dest")
SETUP_HOST = os.path.join(lib.ROOT, "scripts", "setup-host")


def sh(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def option(name):
    opts = json.loads(sh("meson", "introspect", A.build, "--buildoptions").stdout)
    return next(o["value"] for o in opts if o["name"] == name)


try:
    r = sh("meson", "install", "-C", A.build, "--no-rebuild", "--destdir", DEST)
    lib.check("meson install --destdir succeeds", r.returncode == 0, r.stdout + r.stderr)
    files = sorted(os.path.relpath(os.path.join(d, f), DEST) for d, _, fs in os.walk(DEST) for f in fs)
    prefix = option("prefix").lstrip("/")
    bindir = os.path.join(prefix, option("bindir"))
    etc = option("sysconfdir")
    etc = etc.lstrip("/") if etc.startswith("/") else os.path.join(prefix, etc)
    want = [os.path.join(bindir, b) for b in ("tern", "tern-pool-watch", "tern-bgp-speak", "tern-health-probe")]
    want.append(os.path.join(etc, "tern", "tern.yaml"))
    lib.check("the binaries and the example config are installed", all(w in files for w in want),
              f"want {want}\ngot {files}")
    units = [f for f in files if f.endswith("systemd/system/tern.service")]
    lib.check("tern.service is installed in a systemd system unit directory", len(units) == 1, files)
    lib.check("no test or benchmark binary is installed",
              not any(os.path.basename(f) in ("tern_unit", "tern_bench") for f in files), files)
    if units:
        unit = open(os.path.join(DEST, units[0])).read()
        tern_path = "/" + os.path.join(bindir, "tern")
        conf_path = "/" + os.path.join(etc, "tern", "tern.yaml")
        lib.check("the unit runs the installed binary with the installed config",
                  f"ExecStart={tern_path} run --config {conf_path}" in unit and "@BINDIR@" not in unit and "@SYSCONFDIR@" not in unit, unit)
        for key in ("Type=notify", "NotifyAccess=main", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID",
                    "LimitMEMLOCK=infinity", "LimitNOFILE=", "Restart=on-failure", "TimeoutStopSec="):
            lib.check(f"the unit has {key}", key in unit, unit)
        stop = int(unit.split("TimeoutStopSec=")[1].split()[0])
        lib.check("TimeoutStopSec outlasts the default drain (bgp.drain_time 5 s) and the CEASE wait", stop > 5 + 2 + 10,
                  stop)
        # verify checks that the commands exist: point them at the DESTDIR.
        checked = os.path.join(TMP, "tern.service")
        with open(checked, "w") as f:
            f.write(unit.replace(tern_path, os.path.join(DEST, bindir, "tern")))
        if shutil.which("systemd-analyze"):
            v = sh("systemd-analyze", "verify", "--man=no", checked)
            lib.check("systemd-analyze verify passes on the unit", v.returncode == 0 and not v.stderr.strip(),
                      v.stdout + v.stderr)
            # And it does catch a broken unit (the check is not blind).
            with open(checked, "w") as f:
                f.write(unit.replace("Type=notify", "Type=nonsense"))
            v = sh("systemd-analyze", "verify", "--man=no", checked)
            lib.check("systemd-analyze verify rejects a broken copy", "nonsense" in v.stderr, v.stderr)
        else:
            lib.check("systemd-analyze is installed (systemd)", False, "not found")
        c = sh(os.path.join(DEST, bindir, "tern"), "check", "--config", os.path.join(DEST, etc, "tern", "tern.yaml"))
        lib.check("the installed example config passes the installed tern check", c.returncode == 0, c.stdout + c.stderr)

    # scripts/setup-host: only what changes nothing.
    pci = sorted(os.listdir("/sys/bus/pci/devices"))[0] if os.path.isdir("/sys/bus/pci/devices") else None
    args = ["--dry-run", "--hugepages", "600"] + ([pci] if pci else [])
    r = sh(SETUP_HOST, *args)
    lib.check("setup-host --dry-run says what it would write and run, and changes nothing",
              r.returncode == 0 and "would write /etc/sysctl.d/80-tern-hugepages.conf" in r.stdout and
              "vm.nr_hugepages = 600" in r.stdout and "dry run: nothing changed" in r.stdout and
              not os.path.exists("/etc/sysctl.d/80-tern-hugepages.conf"), r.stdout + r.stderr)
    if pci:
        lib.check("setup-host --dry-run binds the NIC with dpdk-devbind.py, now and at boot",
                  f"dpdk-devbind.py --bind=vfio-pci {pci}" in r.stdout and
                  "would write /etc/systemd/system/tern-bind-nics.service" in r.stdout and
                  not os.path.exists("/etc/systemd/system/tern-bind-nics.service"), r.stdout)
    for bad, says in ((["--dry-run", "3b:00"], "'3b:00' is not a PCI address"),
                      (["--dry-run", "0000:ff:1f.7"], "no PCI device 0000:ff:1f.7"),
                      (["--dry-run", "--hugepages", "lots"], "--hugepages 'lots' is not a number"),
                      (["--dry-run", "--driver", "e1000"], "--driver 'e1000' is not"),
                      (["--dry-run", "--frobnicate"], "unknown option '--frobnicate'")):
        r = sh(SETUP_HOST, *bad)
        lib.check(f"setup-host {' '.join(bad)}: exit 2 naming the bad input", r.returncode == 2 and says in r.stderr,
                  f"{r.returncode} {r.stderr}")
finally:
    shutil.rmtree(TMP, ignore_errors=True)
lib.done()

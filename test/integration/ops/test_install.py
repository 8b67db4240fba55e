#!/usr/bin/python3
"""`meson install` into a DESTDIR puts tern, its tools, the systemd unit
(paths filled in), the example config with its pool file, the man page and
the bash completion in place; the installed config passes `tern check` and
names the installed pool file; the unit passes `systemd-analyze verify`;
the man page renders and says what `tern run --help` says (EAL arguments,
signals); the completion completes commands, options, config files,
captures and EAL options in bash; `tern --version` is the git
description. Also
scripts/setup-host, without changing this machine: --dry-run and its
argument errors."""
import json
import os
import re
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


def complete(completion, line, cwd):
    """What bash offers for `line` (the word under the cursor is its last, maybe
    empty) with the completion file sourced, as COMPREPLY words."""
    words = line.split(" ")
    script = (f"source {completion}\nCOMP_WORDS=({' '.join(repr(w) for w in words)})\n"
              f"COMP_CWORD={len(words) - 1}\n_tern\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    r = sh("bash", "--norc", "--noprofile", "-c", script, cwd=cwd)
    return [w for w in r.stdout.splitlines() if w], r.stderr


def check_help_man_completion(files, prefix, etc):
    tern = os.path.join(DEST, prefix, option("bindir"), "tern")
    # --version: the git description at build time (build/version.h, made by
    # vcs_tag on every build): TAG-N-gHASH or HASH, "-dirty" for local changes,
    # HASH a commit of this repository.
    v = sh(tern, "--version")
    described = v.stdout.strip().removeprefix("tern ")
    m = re.fullmatch(r"(?:.+-\d+-g)?([0-9a-f]{7,40})(-dirty)?", described)
    lib.check("tern --version prints the build's git description, a commit of this repository",
              v.returncode == 0 and v.stdout.startswith("tern ") and m is not None and
              sh("git", "-C", lib.ROOT, "cat-file", "-e", f"{m.group(1)}^{{commit}}").returncode == 0,
              f"{v.stdout!r} {v.stderr!r}")
    version_h = open(os.path.join(A.build, "version.h")).read()
    lib.check("tern --version is build/version.h's", f'kVersion = "{described}"' in version_h, version_h)
    run_help = sh(tern, "run", "--help").stdout
    for words in ("-- ", "rte_eal_init", "dataplane.lcores", "main_lcore", "--main-lcore", "--file-prefix tern-",
                  "--in-memory", "--no-huge", "hugepages", "worker", "SIGHUP", "SIGTERM", "SIGINT", "drain_time",
                  "exit status"):
        lib.check(f"tern run --help explains {words!r}", words in run_help, run_help)
    cmds = ("run", "replay", "check", "console", "import-pybal")
    for c in cmds:
        h = sh(tern, c, "--help")
        lib.check(f"tern {c} --help exits 0 with a synopsis and a description",
                  h.returncode == 0 and h.stdout.startswith(f"usage: tern {c} ") and len(h.stdout.splitlines()) > 6,
                  h.stdout + h.stderr)

    # The man page: built from the help at build time, installed in man1.
    mandir = option("mandir")
    page = os.path.join(prefix, mandir, "man1", "tern.1") if not mandir.startswith("/") else \
        os.path.join(mandir.lstrip("/"), "man1", "tern.1")
    lib.check("the man page is installed in MANDIR/man1/tern.1", page in files, files)
    if page in files:
        r = subprocess.run(["man", "-l", "-P", "cat", os.path.join(DEST, page)], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0"))
        # Plain text: no overstrike bold or underline, ASCII hyphens.
        text = re.sub(".\b", "", r.stdout).replace("\u2010", "-").replace("\u2212", "-")
        lib.check("man -l renders the page without warnings", r.returncode == 0 and "warning" not in r.stderr,
                  r.stderr)
        for words in [f"tern {c}" for c in cmds] + ["--file-prefix", "--no-huge", "SIGHUP", "SIGTERM", "SIGINT",
                                                     described, os.path.join("/" + etc, "tern", "tern.yaml")]:
            lib.check(f"the man page says {words!r}", words in text, text[:3000])

    # The bash completion.
    datadir = option("datadir")
    comp = os.path.join(prefix, datadir, "bash-completion", "completions", "tern")
    lib.check("the bash completion is installed in DATADIR/bash-completion/completions/tern", comp in files, files)
    if comp in files:
        comp = os.path.join(DEST, comp)
        work = os.path.join(TMP, "complete")
        os.makedirs(os.path.join(work, "sub"))
        for f in ("site.yaml", "in.pcap", "notes.txt"):
            open(os.path.join(work, f), "w").close()
        for line, want, unwanted in (("tern ", set(cmds) | {"--version", "--help"}, set()),
                                     ("tern r", {"run", "replay"}, {"check"}),
                                     ("tern run --", {"--config", "--interactive", "--help", "--"}, {"--in"}),
                                     ("tern replay --", {"--in", "--out", "--punt", "--lcores", "--stats", "--events"},
                                      {"--interactive"}),
                                     ("tern import-pybal --", {"--conf", "--pools", "--node-name"}, set()),
                                     ("tern run --config ", {"site.yaml", "sub"}, {"in.pcap", "notes.txt"}),
                                     ("tern check -c ", {"site.yaml"}, {"in.pcap"}),
                                     ("tern replay --in ", {"in.pcap", "sub"}, {"site.yaml", "notes.txt"}),
                                     ("tern run --config x.yaml -- --", {"--file-prefix", "--in-memory", "--no-huge",
                                                                         "--lcores", "--main-lcore"}, {"--config"})):
            got, err = complete(comp, line, work)
            lib.check(f"bash completes {line!r}", want <= set(got) and not (unwanted & set(got)) and not err,
                      f"got {got}, want {sorted(want)} without {sorted(unwanted)}; {err}")

    # The example's pool file beside the config, and the config names it.
    pool = os.path.join(etc, "tern", "pools", "text-https")
    lib.check("the example's pool file is installed in SYSCONFDIR/tern/pools", pool in files, files)
    conf = open(os.path.join(DEST, etc, "tern", "tern.yaml")).read()
    lib.check("the installed config's pool URL names the installed pool file", f"file:///{pool}" in conf,
              [l for l in conf.splitlines() if "pool:" in l])


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
                    "LimitMEMLOCK=infinity", "LimitNOFILE=", "Restart=on-failure", "TimeoutStopSec=",
                    "CapabilityBoundingSet=CAP_", "NoNewPrivileges=yes", "ProtectSystem=strict",
                    "RuntimeDirectory=tern dpdk", "ProtectHome=yes", "PrivateTmp=yes",
                    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET", "LockPersonality=yes"):
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
            # The sandbox: systemd's own exposure score (9.6 for the unit without it).
            with open(checked, "w") as f:
                f.write(unit.replace(tern_path, os.path.join(DEST, bindir, "tern")))
            sec = sh("systemd-analyze", "security", "--offline=yes", "--threshold=35", checked)
            lib.check("systemd-analyze security rates the unit 3.5 or better", sec.returncode == 0,
                      sec.stdout[-300:] + sec.stderr)
        else:
            lib.check("systemd-analyze is installed (systemd)", False, "not found")
        c = sh(os.path.join(DEST, bindir, "tern"), "check", "--config", os.path.join(DEST, etc, "tern", "tern.yaml"))
        lib.check("the installed example config passes the installed tern check", c.returncode == 0, c.stdout + c.stderr)

    check_help_man_completion(files, prefix, etc)

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

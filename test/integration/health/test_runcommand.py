#!/usr/bin/python3
"""RunCommand against real programs: exit status, argument substitution,
timeout and the killing of the whole process group, output logging, a
missing program, and no zombies or fd leaks in the monitoring process.
Commands run as `user` (nobody unless named): their ids, groups, working
directory and environment are checked, and the kills above reach another
user's processes."""
import grp
import os
import pwd
import signal
import tempfile
import time

from lib import Probe, args, check, done, service_yaml

a = args()
work = tempfile.mkdtemp(prefix="tern-runcommand-")
# The commands run as nobody: they read their scripts and write their pid files here.
os.chmod(work, 0o1777)
recorded = []  # pids the commands wrote down: killed at the end, whatever happens


def yaml_list(items):
    return "[" + ", ".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items) + "]"


def runcommand(command, arguments=(), interval=0.2, timeout=5, log_output=True, user=None):
    argv = f"arguments: {yaml_list(arguments)}, " if arguments else ""  # the config refuses []
    who = f", user: {user}" if user else ""
    return (f"RunCommand: {{command: \"{command}\", {argv}"
            f"interval: {interval}, timeout: {timeout}, log-output: {str(log_output).lower()}{who}}}")


def command_output(command, arguments=(), user=None):
    """What one run of `command` printed (its log lines), and its verdict."""
    with Probe(a.build, svc(runcommand(command, arguments, user=user))) as p:
        v = p.wait_for("up", 5)
        time.sleep(0.2)
        return [l.split("Cmd stdout: ", 1)[1].rstrip("\n") for l in p.stderr if "Cmd stdout: " in l], v


def svc(monitor, servers=(("h1", "127.0.0.1"),)):
    return service_yaml("svc", 80, monitor, list(servers))


def script(name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + text)
    os.chmod(path, 0o755)
    return path


def proc_state(pid):
    """The state letter of `pid` (R, S, Z, ...), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def living(pids):
    """Those of `pids` still running (a zombie has been killed; its reaping is init's)."""
    return [p for p in pids if proc_state(p) not in (None, "Z", "X")]


def read_pids(path, want, wait=5.0):
    """The pids in the file at `path` once it holds `want` of them."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            with open(path) as f:
                pids = [int(x) for x in f.read().split()]
            if len(pids) >= want:
                recorded.extend(pids)
                return pids
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.05)
    return []


def zombie_children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == ppid and fields[0] == "Z":
            out.append(int(d))
    return out


def fd_count(pid):
    """The fewest fds `pid` has over half a second: a run in flight holds two
    more (its pidfd and pipe), a leak raises the floor."""
    counts = []
    for _ in range(20):
        counts.append(len(os.listdir(f"/proc/{pid}/fd")))
        time.sleep(0.025)
    return min(counts)


try:
    with Probe(a.build, svc(runcommand("/bin/true"))) as p:
        v = p.wait_for("up", 5)
        check("true_up", v is not None and v["reason"] == "exit status 0", p.verdicts())
        check("true_after_interval", v is not None and 0.15 <= v["t"] < 2, v)

    with Probe(a.build, svc(runcommand("/bin/false"))) as p:
        v = p.wait_for("down", 5)
        check("false_down", v is not None and v["reason"] == "exit status 1", p.verdicts())

    # Each server's own host and ip reach the program, as separate argv
    # entries (no shell: the space stays inside its argument). h3 is not one
    # the script accepts, so it must be down while h1 and h2 are up.
    args_ok = script("args.sh", '[ "$#" = 4 ] && [ "$3" = svc:80 ] && [ "$4" = "a b" ] || exit 6\n'
                                'case "$1 $2" in "h1 127.0.0.1"|"h2 127.0.0.2") exit 0;; esac\nexit 7\n')
    with Probe(a.build, svc(runcommand(args_ok, ["{host}", "{ip}", "{service}:{port}", "a b"]),
                            servers=(("h1", "127.0.0.1"), ("h2", "127.0.0.2"), ("h3", "127.0.0.3")))) as p:
        p.wait_for("up", 5, host="h1")
        vs = p.verdicts(0.5)
        first = {h: next((v for v in vs if v["host"] == h), None) for h in ("h1", "h2", "h3")}
        check("arguments_substituted_up", first["h1"] and first["h1"]["state"] == "up" and
              first["h2"] and first["h2"]["state"] == "up", vs)
        check("arguments_other_host_down", first["h3"] and first["h3"]["state"] == "down" and
              first["h3"]["reason"] == "exit status 7", vs)

    # A hanging command and its background child: killed together at the
    # timeout. interval 3 leaves a quiet second after the kill to look.
    hang = script("hang.sh", f'f={work}/pids.$$\nsleep 1000 &\necho $! >> $f\nsleep 1000 &\necho $! >> $f\n'
                             'echo $$ >> $f\nwait\n')
    with Probe(a.build, svc(runcommand(hang, interval=3, timeout=1))) as p:
        v = p.wait_for("down", 8)
        files = [f for f in os.listdir(work) if f.startswith("pids.")]
        pids = read_pids(os.path.join(work, files[0]), 3) if len(files) == 1 else []
        check("timeout_down", v is not None and v["reason"] == "timed out after 1 s", p.verdicts())
        check("timeout_after_1s", v is not None and 3.8 <= v["t"] < 5.5, v)
        time.sleep(0.3)
        check("timeout_killed_group", len(pids) == 3 and not living(pids), f"pids {pids} files {files}, living {living(pids)}")
    for f in os.listdir(work):
        if f.startswith("pids."):
            os.unlink(os.path.join(work, f))

    # stop() (the probe's SIGTERM) kills a command still running.
    with Probe(a.build, svc(runcommand(hang, interval=0.2, timeout=60))) as p:
        end = time.monotonic() + 5
        files = []
        while not files and time.monotonic() < end:
            files = [f for f in os.listdir(work) if f.startswith("pids.")]
            time.sleep(0.05)
        pids = read_pids(os.path.join(work, files[0]), 3) if files else []
        check("stop_running", p.stop() == 0 and len(pids) == 3, f"pids {pids}")
        time.sleep(0.3)
        check("stop_killed_group", pids and not living(pids), f"living {living(pids)}")

    # A background child outliving a successful command: killed, and logged.
    left = script("leftover.sh", f'sleep 1000 &\necho $! > {work}/leftover\nexit 0\n')
    with Probe(a.build, svc(runcommand(left, interval=0.3))) as p:
        v = p.wait_for("up", 5)
        pids = read_pids(os.path.join(work, "leftover"), 1)
        time.sleep(0.2)
        check("leftover_up", v is not None, p.verdicts())
        check("leftover_killed", pids and not living(pids), f"pids {pids} living {living(pids)}")
        check("leftover_logged", any("left processes behind" in l for l in p.stderr), p.stderr)

    out = "echo hello-stdout; printf 'tab\\there\\n'; echo hello-stderr >&2"
    with Probe(a.build, svc(runcommand("/bin/sh", ["-c", out]))) as p:
        v = p.wait_for("up", 5)
        time.sleep(0.2)
        err = "".join(p.stderr)
        check("output_up", v is not None, p.verdicts())
        check("output_logged", "Cmd stdout: hello-stdout" in err and "Cmd stdout: hello-stderr" in err, err)
        check("output_escaped", "Cmd stdout: tab\\there" in err, err)
    with Probe(a.build, svc(runcommand("/bin/sh", ["-c", out], log_output=False))) as p:
        v = p.wait_for("up", 5)
        time.sleep(0.2)
        err = "".join(p.stderr)
        check("output_not_logged", v is not None and "hello" not in err, err)

    with Probe(a.build, svc(runcommand(os.path.join(work, "no-such-command")))) as p:
        v = p.wait_for("down", 5)
        check("missing_command_down", v is not None and "No such file or directory" in v["reason"], p.verdicts())

    with Probe(a.build, svc(runcommand("/bin/sh", ["-c", "kill -9 $$"]))) as p:
        v = p.wait_for("down", 5)
        check("signal_down", v is not None and v["reason"] == "killed by signal 9", p.verdicts())

    # Many runs: no zombie children and no fd growing in the probe.
    with Probe(a.build, svc(runcommand("/bin/sh", ["-c", "echo x"], interval=0.05))) as p:
        p.wait_for("up", 5)
        fds_before = fd_count(p.proc.pid)
        time.sleep(1.0)
        fds_after = fd_count(p.proc.pid)
        zombies = zombie_children(p.proc.pid)
        runs = sum(1 for l in p.stderr if "Cmd stdout: x" in l)
        check("many_runs", runs >= 15, f"{runs} runs")
        check("no_fd_leak", fds_after <= fds_before, f"{fds_before} fds, then {fds_after}")
        check("no_zombies", not zombies, f"zombie children {zombies}")

    # Whom the command runs as: nobody by default, with nobody's groups, in /,
    # with PATH alone in its environment; root or another user when named.
    ids = ["-c", 'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) cwd=$(pwd)"; env']
    nobody = pwd.getpwnam("nobody")
    out, v = command_output("/bin/sh", ids)
    want = f"uid={nobody.pw_uid} gid={nobody.pw_gid} groups="
    check("user_default_nobody", v is not None and out and out[0].startswith(want) and out[0].endswith(" cwd=/"), out)
    env = [l for l in out[1:] if not l.startswith("PWD=")]  # sh sets PWD itself
    check("user_environment_path_only", v is not None and len(env) == 1 and env[0].startswith("PATH=/"), out)
    out, v = command_output("/bin/sh", ids, user="root")
    check("user_root_when_named", v is not None and out and out[0].startswith("uid=0 gid=0 "), out)
    daemon = pwd.getpwnam("daemon")
    groups = sorted(os.getgrouplist("daemon", daemon.pw_gid))
    out, v = command_output("/bin/sh", ids, user="daemon")
    got = out[0].split("groups=", 1)[1].split(" cwd=")[0].split() if out else []
    check("user_other_with_its_groups", v is not None and out and
          out[0].startswith(f"uid={daemon.pw_uid} gid={daemon.pw_gid} ") and sorted(int(g) for g in got) == groups,
          f"{out} want groups {groups}")
    # A command the user may not run: down, with exec's reason.
    private = script("private.sh", "exit 0\n")
    os.chmod(private, 0o700)
    with Probe(a.build, svc(runcommand(private))) as p:
        v = p.wait_for("down", 5)
        check("user_cannot_exec_root_only", v is not None and "Permission denied" in v["reason"], p.verdicts())
    # An unknown user: the config is refused, naming it.
    with Probe(a.build, svc(runcommand("/bin/true", user="tern-no-such-user"))) as p:
        try:
            rc = p.proc.wait(timeout=10)
        except Exception:
            rc = None
        time.sleep(0.1)
        err = "".join(p.stderr)
        check("user_unknown_refused", rc not in (None, 0) and "no user 'tern-no-such-user'" in err, f"rc {rc}: {err}")
finally:
    for pid in recorded:
        if proc_state(pid) not in (None, "Z", "X"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for f in os.listdir(work):
        os.unlink(os.path.join(work, f))
    os.rmdir(work)
done()

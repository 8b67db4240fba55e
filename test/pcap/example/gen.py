#!/usr/bin/python3
"""example replays the shipped example (tern.yaml and in.pcap here are symbolic links
to conf/example.yaml and conf/example.pcap): regenerating it means conf/gen_example.py,
whose frames() (expectation, note, frame) this case's check reads through this file."""

import importlib.util
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GEN = HERE.parents[2] / "conf" / "gen_example.py"


def frames():
    spec = importlib.util.spec_from_file_location("gen_example", GEN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.frames()


if __name__ == "__main__":
    sys.exit(subprocess.call(["/usr/bin/python3", str(GEN)]))

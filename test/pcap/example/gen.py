#!/usr/bin/python3
"""example replays the shipped example (tern.yaml and in.pcap here are symbolic links
to conf/example.yaml and conf/example.pcap): regenerating it means conf/gen_example.py."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    sys.exit(subprocess.call(["/usr/bin/python3", str(HERE.parents[2] / "conf" / "gen_example.py")]))

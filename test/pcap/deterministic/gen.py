#!/usr/bin/python3
"""deterministic replays dr_basic's input and config (in.pcap and tern.yaml here are
symbolic links to ../dr_basic/): regenerating it means regenerating dr_basic."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    sys.exit(subprocess.call(["/usr/bin/python3", str(HERE.parent / "dr_basic" / "gen.py")]))

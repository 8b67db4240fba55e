#!/usr/bin/python3
"""The lab suite: test/integration/run.py lab [--build DIR] [FILE...]."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
os.execv(sys.executable, [sys.executable, os.path.join(here, "..", "run.py"), "lab", *sys.argv[1:]])

#!/usr/bin/python3
"""The health suite: test/integration/run.py health [--build DIR] [FILE...]."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
os.execv(sys.executable, [sys.executable, os.path.join(here, "..", "run.py"), "health", *sys.argv[1:]])

#!/usr/bin/python3
"""The ops suite: test/integration/run.py ops [--build DIR] [FILE...]."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
os.execv(sys.executable, [sys.executable, os.path.join(here, "..", "run.py"), "ops", *sys.argv[1:]])

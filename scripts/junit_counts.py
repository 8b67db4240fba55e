#!/usr/bin/python3
"""Counts passed and failed test cases in a Catch2 JUnit report: prints "P F".
With --failures, lists the failed cases instead."""
import sys
import xml.etree.ElementTree as ET

args = sys.argv[1:]
show = "--failures" in args
path = [a for a in args if a != "--failures"][0]
root = ET.parse(path).getroot()
passed = failed = 0
for case in root.iter("testcase"):
    bad = case.find("failure") is not None or case.find("error") is not None
    if bad:
        failed += 1
        if show:
            print(f"FAILED: {case.get('classname')} / {case.get('name')}")
    else:
        passed += 1
if not show:
    print(passed, failed)

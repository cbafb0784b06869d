#!/usr/bin/env python3
"""expect-exit CODE COMMAND...: runs COMMAND, passing its output through, and
succeeds only if it exits with exactly CODE. lit's `not` accepts any failure;
firnc promises 1 for a user error (never a crash, never 2)."""
import subprocess
import sys

expected = int(sys.argv[1])
code = subprocess.call(sys.argv[2:])
if code != expected:
    sys.stderr.write(f"expect-exit: {sys.argv[2]} exited with {code}, expected {expected}\n")
    sys.exit(1)

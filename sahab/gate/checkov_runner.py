"""Runs checkov inside .venv-checkov, started early: it imports checkov (seconds) while the gate is
still planning, then reads one JSON line (`{"argv": [...], "env": {...}}`) from stdin and runs them, exactly as
the `checkov` console script would. An empty line means "nothing to scan": exit 0.

Standalone on purpose: it runs under checkov's interpreter, which cannot import Sahab or pulumi.
"""

import json
import os
import sys
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from checkov.main import Checkov  # the slow part, overlapped with the plan

line = sys.stdin.readline()
if not line.strip():
    sys.exit(0)
request = json.loads(line)  # {"argv": [...], "env": {...}}
os.environ.update({k: v for k, v in request.get("env", {}).items() if v})
argv = request["argv"]
sys.argv = ["checkov", *argv]
with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=SyntaxWarning)
    sys.exit(Checkov(argv).run())

"""`make lint`: every `# noqa` and `# type: ignore` says why (house style: a suppression carries its reason).

A reason is any text after the codes: `# noqa: E402 (pulumi must be configured first)`,
`# type: ignore[attr-defined]  # pulumi's stubs lack it`. Exit 1 listing each bare one.
"""

from __future__ import annotations

import re
import subprocess
import sys

SUPPRESSION = re.compile(r"#\s*(?P<kind>noqa|type:\s*ignore)(?P<codes>(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)|(\[[\w, -]+\]))?(?P<rest>.*)$")


def bare(line: str) -> bool:
    match = SUPPRESSION.search(line)
    if not match:
        return False
    return not re.search(r"[A-Za-z]", match.group("rest"))


def main() -> int:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], capture_output=True, text=True, check=True).stdout.split()
    found = []
    for path in files:
        try:
            lines = open(path, encoding="utf-8").read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(lines, 1):
            if bare(line):
                found.append(f"{path}:{number}: {line.strip()}")
    for item in found:
        print(f"{item}\n    a suppression needs its reason: `# noqa: E402 (why)` or `# type: ignore[code]  # why`")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

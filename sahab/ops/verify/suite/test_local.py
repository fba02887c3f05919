"""Local part (`sahab verify local`): every service `sahab local up` recorded is healthy, its
process is alive and its port listens, seen through testinfra's local host."""

from urllib.parse import urlsplit

import pytest

from sahab.ops.verify.suite import run_check

PART = "local"


def test_check(check):
    run_check(check)


def _services(ctx):
    return ctx["local"]["services"] if ctx.get("target") == "local" else []


def test_processes_alive_and_listening(host, sahab_context):
    services = _services(sahab_context)
    if not services:
        pytest.skip("not a local platform (`sahab verify local`)")
    dead, deaf = [], []
    for s in services:
        if not host.process.filter(pid=s["pid"]):
            dead.append(f"{s['name']} (pid {s['pid']})")
        url = urlsplit(s.get("url") or "")
        if url.port and not host.socket(f"tcp://{url.hostname}:{url.port}").is_listening:
            deaf.append(f"{s['name']} ({url.hostname}:{url.port})")
    problems = [f"{d} (local service): its process is gone. Fix: `sahab local down && sahab local up`." for d in dead]
    problems += [f"{d} (local service): nothing listens on its port. Fix: see its log under .sahab/local/logs/." for d in deaf]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)

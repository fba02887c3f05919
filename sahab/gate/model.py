"""What every part of the gate returns: `Finding`s, the packs' `PackInfo`, the whole `GateResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workloads.errors import SahabError

REPO = Path(__file__).resolve().parents[2]
MANDATORY, ADVISORY, DISABLED, REMEDIATE = "mandatory", "advisory", "disabled", "remediate"
LEVELS = (ADVISORY, MANDATORY, REMEDIATE, DISABLED)


@dataclass
class Finding:
    """One violation or problem, whatever found it (a policy, checkov, schema validation, the gate)."""

    source: str  # policy | checkov | schema | gate
    pack: str
    policy: str
    enforcement: str
    message: str
    urn: str = ""
    resource: str = ""
    severity: str = ""
    description: str = ""
    file: str = ""

    @property
    def mandatory(self) -> bool:
        return self.enforcement == MANDATORY

    def contract(self) -> dict[str, Any]:
        """The `{"pack","policy","urn","enforcement","message"}` shape of the CLI's JSON output."""
        return {"pack": self.pack, "policy": self.policy, "urn": self.urn, "enforcement": self.enforcement, "message": self.message}


@dataclass
class PackInfo:
    directory: str
    name: str
    version: str
    policies: dict[str, dict[str, Any]]  # name -> {description, enforcement, severity, type}
    plugin_version: str = ""


@dataclass
class GateResult:
    project: str
    stack: str
    environment: str
    findings: list[Finding] = field(default_factory=list)
    packs: list[PackInfo] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    resources: int = 0
    manifests: int = 0
    suppressions: dict[str, str] = field(default_factory=dict)
    config_file: str = ""
    checks: list[str] = field(default_factory=list)  # non-pack sources in the summary table
    extras: dict[str, Any] = field(default_factory=dict)  # what deployability checks hand to report sections

    @property
    def mandatory(self) -> int:
        return sum(1 for f in self.findings if f.mandatory)

    @property
    def advisory(self) -> int:
        return sum(1 for f in self.findings if not f.mandatory)


class GateError(SahabError, RuntimeError):
    """The gate itself cannot run (bad policy.yaml, a pack that does not start): exit 2."""

    exit_code = 2

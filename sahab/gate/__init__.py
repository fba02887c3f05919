"""The credential-free policy gate: the offline plan, judged as the Pulumi CLI would judge it, and
checked for deployability.

    check_environment(repo, env)        `sahab check <env>`: plan + packs + schemas + checkov
                                        + deployability + reports
    gate_environment(repo, env)         the same run, returning (plan, GateResult, out dir):
                                        what `sahab evidence` builds its pack on
    policy_check(program_dir, stack)    `sahab policy check DIR`: any Pulumi Python program, packs only

One module per concern:

    model.py          Finding, PackInfo, GateResult, GateError, the enforcement levels
    analyzer.py       policy packs over the analyzer gRPC protocol (one process per pack)
    schemas.py        Kubernetes manifests against the JSON schemas of the cluster's version
    checkov.py        checkov on the manifests, Sahab's custom checks, the suppressions
    deployability/    does the plan deploy and work: connectivity, iam, scheduling, pins, rules
    reports.py        report.json / report.md / report.sarif, the console table
    entry.py          gate_plan, check_environment, policy_check

Each policy pack runs as its own process, started the way the CLI's `pulumi-analyzer-policy-python`
starts it (`<venv>/bin/python -u -m pulumi.policy <engine> .` in the pack folder, with
PULUMI_CONFIG / PULUMI_PROJECT / PULUMI_STACK / PULUMI_DRY_RUN in the environment); the pack
prints its port and the gate speaks the analyzer gRPC protocol to it: Handshake, ConfigureStack,
GetAnalyzerInfo, GetPluginInfo, Configure (config reconciled as the CLI does: schema defaults,
the pack's initial config, then the environment's policy.yaml), Analyze per resource with its
provider, AnalyzeStack for the whole stack. Packs run in parallel, with checkov alongside.

The Kubernetes half is reusable on its own: `validate_schemas(manifest_dir, version)` and
`run_checkov(manifest_dir)` return the same `Finding`s the gate reports.

Extending the gate (the hook other checks use):

- a deployability check is a function `check(ctx: deployability.Context) -> list[Finding]`
  (ctx: `plan`, `manifests`, `releases`, `spec`, `environment_dir`, `extras`); write it in its own
  module under `sahab/gate/deployability/` and append it to `deployability.CHECKS`, the one
  registry. Build findings with `deployability.finding(policy, message, urn=..., resource=...)`:
  pack `deployability`, mandatory by default, message `<resource> (<type>): what is wrong. Fix: how.`
  An environment's policy.yaml may set `packs.deployability.<policy>` (or `all`) to a level.
- a report.md section is a function `section(result: GateResult) -> list[str]` (Markdown lines)
  appended to `reports.SECTIONS`; a check hands it data through `ctx.extras[...]`, which the gate
  copies to `result.extras`.
"""

from sahab.gate.analyzer import (
    ENGINE_ADDRESS,
    PACKS_DIR,
    AnalyzerRequests,
    PackSession,
    _finding,
    discover_packs,
    pack_python,
    parse_pack_config,
    reconcile_config,
    run_pack,
    run_packs,
)
from sahab.gate.checkov import CHECKOV, CHECKS_DIR, SUPPRESSIONS, CheckovRun, parse_checkov, run_checkov, start_checkov, warm_checkov
from sahab.gate.entry import check_environment, gate_environment, gate_plan, load_policy_doc, policy_check, write_pack_configs
from sahab.gate.model import ADVISORY, DISABLED, LEVELS, MANDATORY, REMEDIATE, REPO, Finding, GateError, GateResult, PackInfo
from sahab.gate.reports import SECTIONS, print_table, report_json, report_markdown, report_sarif, write_reports
from sahab.gate.schemas import DEFAULT_KUBERNETES_VERSION, OFFLINE_PLACEHOLDERS, manifest_files, validate_schemas

__all__ = [
    "ADVISORY",
    "AnalyzerRequests",
    "CHECKOV",
    "CHECKS_DIR",
    "CheckovRun",
    "DEFAULT_KUBERNETES_VERSION",
    "DISABLED",
    "ENGINE_ADDRESS",
    "Finding",
    "GateError",
    "GateResult",
    "LEVELS",
    "MANDATORY",
    "OFFLINE_PLACEHOLDERS",
    "PACKS_DIR",
    "PackInfo",
    "PackSession",
    "REMEDIATE",
    "REPO",
    "SECTIONS",
    "SUPPRESSIONS",
    "_finding",
    "check_environment",
    "discover_packs",
    "gate_environment",
    "gate_plan",
    "load_policy_doc",
    "manifest_files",
    "pack_python",
    "parse_checkov",
    "parse_pack_config",
    "policy_check",
    "print_table",
    "reconcile_config",
    "report_json",
    "report_markdown",
    "report_sarif",
    "run_checkov",
    "run_pack",
    "run_packs",
    "start_checkov",
    "validate_schemas",
    "warm_checkov",
    "write_pack_configs",
    "write_reports",
]

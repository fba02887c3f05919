"""The gate's entry points: `sahab check <env>` and `sahab policy check DIR`."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from sahab.gate import deployability as deploy
from sahab.gate.analyzer import PACKS_DIR, discover_packs, run_packs
from sahab.gate.checkov import SUPPRESSIONS, start_checkov, warm_checkov
from sahab.gate.model import ADVISORY, GateError, GateResult
from sahab.gate.reports import print_table, write_reports
from sahab.gate.schemas import DEFAULT_KUBERNETES_VERSION, manifest_files, validate_schemas


def load_policy_doc(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise GateError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(doc, dict) or not set(doc) <= {"packs", "checkov"}:
        raise GateError(f"{path}: top-level keys are `packs` (per pack, the --policy-pack-config of that pack) and `checkov`")
    return doc


def _backend_config(repo: Path, env: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Fill pulumi-state-backend-in-region from environments/<env>/backend.yaml when policy.yaml does not."""
    path = repo / "environments" / env / "backend.yaml"
    if not path.exists():
        return doc
    recorded = yaml.safe_load(path.read_text()) or {}
    packs = dict(doc.get("packs") or {})
    residency = dict(packs.get("uae_residency") or {})
    policy = residency.get("pulumi-state-backend-in-region")
    policy = {"enforcementLevel": policy} if isinstance(policy, str) else dict(policy or {})
    policy.setdefault("backendUrl", recorded.get("url") or "")
    policy.setdefault("secretsProvider", recorded.get("secrets_provider") or "")
    residency["pulumi-state-backend-in-region"] = policy
    packs["uae_residency"] = residency
    return {**doc, "packs": packs}


def _manifest_urns(plan: Any) -> dict[str, str]:
    """Manifest path (relative to manifests/) -> URN of the resource it was rendered from."""
    from sahab.engine.render import manifests

    return {rel: r.urn for r in plan.resources if r.type.startswith("kubernetes:") for rel, _ in manifests([r])}


def _registries(doc: dict[str, Any]) -> list[str]:
    cfg = ((doc.get("packs") or {}).get("uae_residency") or {}).get("kubernetes-images-in-region")
    if isinstance(cfg, dict) and cfg.get("allowedRegistries"):
        return list(cfg["allowedRegistries"])
    from policy_packs.uae_residency.kubernetes_images import ALLOWED_REGISTRIES

    return list(ALLOWED_REGISTRIES["default"])


def gate_plan(
    plan: Any,
    out_dir: Path,
    *,
    policy_doc: dict[str, Any],
    packs: list[Path],
    environment: str = "",
    kubernetes_version: str | None = None,
    config_file: str = "",
    kubernetes: bool = True,
    warm: subprocess.Popen | None = None,
    environment_dir: Path | None = None,
    deployability: bool = False,
) -> GateResult:
    """Judge an already planned program; manifests are expected under out_dir/manifests. With
    `deployability`, also every check of `sahab.gate.deployability.CHECKS` (`sahab check` does)."""
    result = GateResult(project=plan.project, stack=plan.stack, environment=environment, resources=len(plan.resources), config_file=config_file)
    manifest_dir = out_dir / "manifests"
    checkov_cfg = policy_doc.get("checkov") or {}
    urns = _manifest_urns(plan) if kubernetes else {}
    run = None
    if kubernetes:
        result.manifests = len(manifest_files(manifest_dir))
        skip = {str(k): str(v) for k, v in (checkov_cfg.get("skip") or {}).items()}
        result.suppressions = {**SUPPRESSIONS, **skip}
        run = start_checkov(
            manifest_dir,
            skip=skip,
            mandatory_checks=tuple(checkov_cfg.get("mandatory") or ("CKV_SAHAB_*",)),
            default_level=str(checkov_cfg.get("enforcementLevel") or ADVISORY),
            allowed_registries=_registries(policy_doc),
            urns=urns,
            warm=warm,
        )
    deployability_run = None
    if deployability and deploy.CHECKS:
        # Alongside the packs: the checks mostly wait on their analyzers (NCA, promtool).
        levels = deploy.policy_levels((policy_doc.get("packs") or {}).get(deploy.PACK))
        pool = ThreadPoolExecutor(max_workers=1)
        deployability_run = pool.submit(_run_deployability, plan, environment_dir, levels)
        pool.shutdown(wait=False)
    started = time.perf_counter()
    try:
        infos, findings = run_packs(plan, packs, policy_doc)
    except BaseException:
        if run is not None and run.proc is not None:
            run.proc.kill()
        raise
    result.timings["packs"] = time.perf_counter() - started
    result.packs = infos
    result.findings.extend(findings)
    if kubernetes:
        started = time.perf_counter()
        result.findings.extend(validate_schemas(manifest_dir, kubernetes_version or DEFAULT_KUBERNETES_VERSION, urns))
        result.timings["schemas"] = time.perf_counter() - started
        assert run is not None  # started above whenever kubernetes is set
        result.findings.extend(run.result())
        result.timings["checkov"] = run.seconds
    result.checks = ["kubernetes-schemas", "checkov"]
    if deployability_run is not None:
        found, extras, seconds = deployability_run.result()
        result.findings.extend(found)
        result.extras.update(extras)
        result.checks.append(deploy.PACK)
        result.timings["deployability"] = seconds
    return result


def _run_deployability(plan: Any, environment_dir: Path | None, levels: dict[str, str]) -> tuple[list[Any], dict[str, Any], float]:
    started = time.perf_counter()
    ctx = deploy.Context.of(plan, environment_dir)
    found = deploy.run_checks(ctx, levels)
    return found, ctx.extras, time.perf_counter() - started


def write_pack_configs(doc: dict[str, Any], packs: list[Path], out_dir: Path) -> list[Path]:
    """One `--policy-pack-config` JSON per pack (`policy-config-<pack>.json`, the names `sahab up`
    uses), so `pulumi preview --policy-pack policy_packs/<pack> --policy-pack-config ...` runs
    with exactly the config the gate used."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for pack in packs:
        path = out_dir / f"policy-config-{pack.name}.json"
        path.write_text(json.dumps((doc.get("packs") or {}).get(pack.name) or {}, indent=1))
        paths.append(path)
    return paths


def _kubernetes_version(plan: Any) -> str:
    platform = plan.config.get("sahab:platform")
    if isinstance(platform, str):
        try:
            platform = json.loads(platform)
        except json.JSONDecodeError:
            platform = {}
    # The cluster's version: `cluster:` on the clouds, `onprem:` on an existing cluster (cloud: kubernetes).
    where = (platform or {}).get("cluster") or (platform or {}).get("onprem") or {}
    return str(where.get("kubernetes_version") or DEFAULT_KUBERNETES_VERSION)


def gate_environment(
    repo: Path, env: str, stack: str | None = None, out: Path | None = None, packs: Iterable[str] = (), baseline: Path | None = None
) -> tuple[Any, GateResult, Path]:
    """What `sahab check <env>` runs: plan, every pack with environments/<env>/policy.yaml, Kubernetes
    schemas, checkov, deployability; plan.json, manifests and the reports in `out` (default
    .sahab/<env>/). Returns (plan, result, out dir); raises ProgramError or GateError. `baseline`: a
    previous report.json for the control summary (default: the one already in `out`, if any)."""
    from sahab.engine.offline import plan_environment, write_plan

    out_dir = out or repo / ".sahab" / env
    t0 = time.perf_counter()
    warm = warm_checkov()  # imports checkov while the plan runs
    try:
        doc = _backend_config(repo, env, load_policy_doc(repo / "environments" / env / "policy.yaml"))
        pack_dirs = discover_packs(packs, repo / "policy_packs" if (repo / "policy_packs").is_dir() else PACKS_DIR)
        previous = _baseline(baseline or out_dir / "report.json", required=baseline is not None)
        plan = plan_environment(repo, env, stack)
        t_plan = time.perf_counter() - t0
        write_plan(plan, out_dir)
        write_pack_configs(doc, pack_dirs, out_dir)
        config_file = f"environments/{env}/Pulumi.{plan.stack}.yaml"
        result = gate_plan(
            plan,
            out_dir,
            policy_doc=doc,
            packs=pack_dirs,
            environment=env,
            kubernetes_version=_kubernetes_version(plan),
            config_file=config_file,
            warm=warm,
            environment_dir=repo / "environments" / env,
            deployability=True,
        )
    except BaseException:
        if warm is not None and warm.poll() is None:
            warm.kill()
            warm.wait()
        raise
    if previous is not None:
        result.extras["baseline_report"] = previous  # read by the control summary (sahab/evidence/summary.py)
    result.timings = {"plan": t_plan, **result.timings, "total": time.perf_counter() - t0}
    write_reports(result, out_dir)
    return plan, result, out_dir


def _baseline(path: Path, required: bool) -> dict[str, Any] | None:
    """A previous report.json ({"path", "doc"}), or None when there is none to compare with."""
    if not path.is_file():
        if required:
            raise GateError(f"--baseline {path}: no such file. Fix: pass the base branch's report.json of `sahab check`")
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        if required:
            raise GateError(f"--baseline {path}: not a report.json ({e}). Fix: pass the base branch's report.json of `sahab check`") from None
        return None
    return {"path": str(path), "doc": doc} if isinstance(doc, dict) else None


def check_environment(
    repo: Path, env: str, stack: str | None = None, out: Path | None = None, fmt: str = "text", packs: Iterable[str] = (), baseline: Path | None = None
) -> int:
    """`sahab check <env>`: `gate_environment`, then the console table. Exit 0 pass, 1 mandatory
    violation, 2 error."""
    from rich.console import Console

    from sahab.engine.offline import ProgramError

    err = Console(stderr=True)
    try:
        _, result, out_dir = gate_environment(repo, env, stack, out, packs, baseline)
    except (ProgramError, GateError) as e:
        err.print(f"[red]error:[/] {e}")
        return 2
    _emit(result, fmt)
    if fmt == "text":
        paths = [out_dir / name for name in ("report.json", "report.md", "report.sarif")]
        Console().print(f"reports: {', '.join(_rel(p, repo) for p in paths)}")
    return 1 if result.mandatory else 0


def policy_check(
    program_dir: Path,
    stack: str = "dev",
    packs: list[str] | None = None,
    policy_config: Path | None = None,
    fmt: str = "text",
    out: Path | None = None,
    kubernetes: bool = False,
) -> int:
    """`sahab policy check DIR`: run any Pulumi Python program offline (config from DIR/Pulumi.<stack>.yaml)
    and every pack (or `packs`) over it. With `kubernetes`, also schemas and checkov on its manifests.
    Exit 0 pass, 1 mandatory violation, 2 when the program (or the gate's config) fails."""
    from rich.console import Console

    from sahab.engine.offline import ProgramError, read_project, read_stack_config, run_program, write_plan

    err = Console(stderr=True)
    program_dir = Path(program_dir).resolve()
    t0 = time.perf_counter()
    try:
        doc = load_policy_doc(policy_config)
        if policy_config is not None and not policy_config.exists():
            raise GateError(f"--policy-config {policy_config}: no such file")
        pack_dirs = discover_packs(packs or [])
        project, entry = read_project(program_dir)
        config = read_stack_config(program_dir / f"Pulumi.{stack}.yaml", project)
        plan = run_program(program_dir, stack, config, project=project, entry=entry)
        t_plan = time.perf_counter() - t0
        with tempfile.TemporaryDirectory(prefix="sahab-policy-") as tmp:
            work = out or Path(tmp)
            if kubernetes:
                write_plan(plan, work)
            result = gate_plan(plan, work, policy_doc=doc, packs=pack_dirs, environment="", config_file="Pulumi.yaml", kubernetes=kubernetes)
            if out is not None:
                write_reports(result, out)
    except (ProgramError, GateError) as e:
        err.print(f"[red]error:[/] {e}")
        return 2
    result.timings = {"plan": t_plan, **result.timings, "total": time.perf_counter() - t0}
    _emit(result, fmt)
    return 1 if result.mandatory else 0


def _emit(result: GateResult, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps({"violations": [f.contract() for f in result.findings], "mandatory": result.mandatory}, indent=1))
    else:
        print_table(result)


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)

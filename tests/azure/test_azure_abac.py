"""The ABAC conditions on the workloads' blob roles admit what each workload does under its
prefix (list, read, write) and nothing outside it, judged by an evaluator of the condition
language (tests/azure/abac.py) rather than by looking for a substring."""

from __future__ import annotations

from abac import BLOBS, Operation, allows, list_blobs, read_blob, write_blob
from azure_helpers import of

from components.azure.identity import READ_ACTIONS, WRITE_ACTIONS, path_condition
from components.workloads import ProjectPrefixes, platform_workloads, split_grant

TABLE = platform_workloads(("transaction-risk", "delivery-time"))  # environments/uae-north kubernetes.projects

READER, CONTRIBUTOR = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
# Built-in roles' blob data actions (checked: learn.microsoft.com "Azure built-in roles for Storage",
# Storage Blob Data Reader / Contributor, fetched 2026-12).
ROLE_ACTIONS = {READER: set(READ_ACTIONS), CONTRIBUTOR: set(WRITE_ACTIONS)}


def test_a_prefix_condition_admits_listing_reading_and_writing_under_the_prefix_only():
    write = path_condition("serving-log/", WRITE_ACTIONS)
    assert allows(write, list_blobs("serving-log/date=2026-12-02/")), "List Blobs under the prefix"
    assert allows(write, read_blob("serving-log/date=2026-12-02/hour=01/part-a.parquet"))
    assert allows(write, write_blob("serving-log/date=2026-12-02/hour=01/part-a.parquet"))
    assert allows(write, Operation(f"{BLOBS}/delete", resource={f"{BLOBS}:path": "serving-log/x"}))
    assert not allows(write, list_blobs(None)), "listing the whole container"
    assert not allows(write, list_blobs("training-sets/"))
    assert not allows(write, read_blob("training-sets/labels.parquet"))
    assert not allows(write, write_blob("registry.pb"))
    read = path_condition("mlflow/", READ_ACTIONS)
    assert allows(read, list_blobs("mlflow/1/models/m-abc/artifacts")) and allows(read, read_blob("mlflow/1/models/m-abc/artifacts/model.onnx"))
    assert not allows(read, read_blob("other/model.onnx")) and not allows(read, list_blobs("other/"))


def test_the_path_only_condition_refused_every_listing():
    """The condition before: one clause on the blob path for every action, List Blobs included, which
    carries no path; mlflow-skinny lists a model's folder before downloading it, so serving could not
    load a model on AKS."""
    matches = " OR ".join(f"ActionMatches{{'{a}'}}" for a in READ_ACTIONS)
    old = f"((!({matches})) OR (@Resource[{BLOBS}:path] StringStartsWith 'mlflow/'))"
    assert allows(old, read_blob("mlflow/1/model.onnx"))
    assert not allows(old, list_blobs("mlflow/1/")), "the old condition admitted a listing: the premise of the fix is gone"
    assert allows(path_condition("mlflow/", READ_ACTIONS), list_blobs("mlflow/1/"))


def _assignments(plan, workload: str) -> dict[str, list[tuple[str, str | None]]]:
    """container -> [(role id, condition)] of one workload's container-scoped role assignments
    (named `<env>-identity-<workload>-<verb>-<grant>` by components/azure/identity.py)."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    for r in of(plan, "azure-native:authorization:RoleAssignment"):
        scope = str(r.inputs.get("scope", ""))
        if f"-identity-{workload}-" in r.name and "/containers/" in scope:
            out.setdefault(scope.rsplit("/", 1)[-1], []).append((str(r.inputs["roleDefinitionId"]).rsplit("/", 1)[-1], r.inputs.get("condition")))
    return out


def _allowed(grants: list[tuple[str, str | None]], op: Operation) -> bool:
    """Azure RBAC: allowed when any assignment's role has the action and its condition admits it."""
    return any(op.action in ROLE_ACTIONS.get(role, set()) and allows(condition, op) for role, condition in grants)


def test_each_workload_lists_reads_and_writes_under_its_prefixes_in_the_plan(north_plan):
    """What the workloads do on AKS: each project's serving lists and reads a model version's folder
    under mlflow/<project>/ (mlflow-skinny) and writes its log under serving-log/<project>/; its
    monitoring writes its watermark under drift-state/<project>/."""
    checked = 0
    for w in TABLE:
        assignments = _assignments(north_plan, w.name)
        for verb, grants in (("read", w.read_buckets), ("write", w.write_buckets)):
            for grant in grants:
                container, prefix = split_grant(grant)
                if not prefix:
                    continue
                mine = assignments.get(container, [])
                where = f"workloads[{w.name}] on {container}/{prefix}"
                assert _allowed(mine, list_blobs(f"{prefix}1/models/")), f"{where}: List Blobs refused"
                assert _allowed(mine, read_blob(f"{prefix}1/models/model.onnx")), f"{where}: read refused"
                if verb == "write":
                    assert _allowed(mine, write_blob(f"{prefix}date=2026-12-02/part-0.parquet")), f"{where}: write refused"
                conditioned = [(role, cond) for role, cond in mine if cond]
                assert conditioned and not _allowed(conditioned, write_blob("elsewhere/x")) and not _allowed(conditioned, read_blob("elsewhere/x")), (
                    f"{where}: the prefix-conditioned assignment admits blobs outside {prefix}"
                )
                checked += 1
    assert checked >= 16, f"only {checked} prefix grants checked"


def test_one_projects_identity_reaches_nothing_of_anothers_in_the_plan(north_plan):
    """A project's identities cannot list, read or write under the other project's prefixes: its
    serving neither reads the other's prediction log nor writes the other's labels."""
    checked = 0
    for w in TABLE:
        if not w.project:
            continue
        other = "delivery-time" if w.project == "transaction-risk" else "transaction-risk"
        assignments = _assignments(north_plan, w.name)
        for grant in ProjectPrefixes(other).all():
            container, prefix = split_grant(grant)
            mine = assignments.get(container, [])
            where = f"{w.name} on {other}'s {container}/{prefix}"
            assert not _allowed(mine, list_blobs(f"{prefix}date=2026-12-02/")), f"{where}: List Blobs admitted"
            assert not _allowed(mine, read_blob(f"{prefix}date=2026-12-02/part-0.parquet")), f"{where}: read admitted"
            assert not _allowed(mine, write_blob(f"{prefix}offline/labels/arrival_date=2026-12-02/part-0.parquet")), f"{where}: write admitted"
            checked += 1
    assert checked == 8 * 6, f"checked {checked} (identity, other project's prefix) pairs"


def test_a_project_role_widened_to_the_container_is_caught(north_plan):
    """Broken variant: transaction-risk's serving write grant loses its path condition (the whole
    offline-features container): the evaluator then admits writing delivery-time's labels."""
    assignments = _assignments(north_plan, "transaction-risk-serving")
    widened = [(role, None) for role, _ in assignments["offline-features"]]
    labels = ProjectPrefixes("delivery-time").labels.split("/", 1)[1]
    assert _allowed(widened, write_blob(f"{labels}arrival_date=2026-12-02/part-0.parquet")), "an unconditioned Contributor writes every blob"
    assert not _allowed(assignments["offline-features"], write_blob(f"{labels}arrival_date=2026-12-02/part-0.parquet")), (
        "the shipped, conditioned assignment refuses delivery-time's labels"
    )

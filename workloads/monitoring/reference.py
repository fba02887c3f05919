"""The drift reference of a registered model version: `monitoring/reference.npz` of its run.

Training logs the profile with every version it registers (workloads/pipeline.py) and tags the
version with the artifact's path (`sahab.drift.reference`) and sha256 (`sahab.sha256.reference.npz`).
The drift job resolves the version behind an alias (normally `champion`), so after a promotion
live data meets the reference of the model that now serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workloads.monitoring.profile import ReferenceProfile
from workloads.settings import SahabSettings

REFERENCE_PROFILE = "reference.npz"
REFERENCE_ARTIFACT = f"monitoring/{REFERENCE_PROFILE}"
TAG_REFERENCE = "sahab.drift.reference"
UNKNOWN_VERSION = "unknown"
"""The version of a profile file saved without `model_version`: the job then compares every log row."""


@dataclass(frozen=True)
class VersionReference:
    profile: ReferenceProfile
    model_version: str
    """Registry version the profile belongs to (the live rows it is compared with carry it)."""
    source: str
    """Where it came from: `models:/<name>@<alias>` or the path / URI given."""


def registry_reference(alias: str, *, settings: SahabSettings | None = None, cache: Path | None = None) -> VersionReference:
    """Download and check the reference profile of the version behind `alias`.

    LookupError when the alias or the version's reference is missing; ValueError when the
    downloaded file's sha256 differs from the one recorded at registration.
    """
    from mlflow.exceptions import MlflowException

    from workloads.registry.client import mlflow_client, sha256_file, sha_tag

    settings = settings or SahabSettings()
    name = settings.model_name
    client = mlflow_client(settings)
    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise LookupError(f"registered model {name!r} has no alias {alias!r} (register and promote a model first): {exc.message}") from exc
    artifact = mv.tags.get(TAG_REFERENCE)
    if not artifact:
        raise LookupError(
            f"{name} v{mv.version} ({alias}) has no tag {TAG_REFERENCE}: it was registered without a drift reference; "
            f"retrain it with `python -m workloads.pipeline retrain` or set SAHAB_DRIFT_REFERENCE_URI"
        )
    dst = (cache or settings.home / "drift-references") / name / str(mv.version)
    dst.mkdir(parents=True, exist_ok=True)
    path = Path(client.download_artifacts(mv.run_id, artifact, str(dst)))
    expected = mv.tags.get(sha_tag(REFERENCE_PROFILE))
    if expected and sha256_file(path) != expected:
        raise ValueError(f"{path}: sha256 differs from the registry's {expected} ({name} v{mv.version}); re-register the version")
    return VersionReference(ReferenceProfile.load(path), str(mv.version), f"models:/{name}@{alias}")


def file_reference(uri: str) -> VersionReference:
    """A profile at a path or URI; its version is the `model_version` it was saved with (or `unknown`)."""
    profile = ReferenceProfile.load(uri)
    return VersionReference(profile, str(profile.meta.get("model_version", UNKNOWN_VERSION)), uri)

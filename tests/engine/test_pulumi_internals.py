"""Every Pulumi internal the engine and the gate rely on still has the shape they use.

sahab/engine/internals.py is the only module of Sahab that imports `pulumi.runtime` (or `grpc`);
these tests assert each name it re-exports still has the parameters, attributes, message fields
and RPCs the engine (sahab/engine/offline.py, sahab/engine/mocks.py) and the gate
(sahab/gate/analyzer.py) use. After a Pulumi upgrade, a failure here names the symbol and the
file to fix, before a plan or a gate run fails somewhere less obvious.
"""

from __future__ import annotations

import ast
import asyncio
import contextvars
import inspect
import logging
from importlib.metadata import version
from pathlib import Path

import pytest
from google.protobuf import struct_pb2

from sahab.engine import internals as pi

REPO = Path(__file__).resolve().parents[2]
PULUMI = version("pulumi")
INTERNALS = "sahab/engine/internals.py"


def where(symbol: str, user: str) -> str:
    return f"pulumi {PULUMI}: {symbol} changed; fix {INTERNALS} (and {user}, which relies on it)"


def params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def fields(message) -> set[str]:
    return set(message.DESCRIPTOR.fields_by_name)


# --- one home ------------------------------------------------------------------------------------

PACKAGES = ("sahab", "stacks", "components", "workloads", "policy_packs")


def _internal_uses(path: Path) -> list[str]:
    """`pulumi.runtime` or `grpc` imported (or `pulumi.runtime` reached as an attribute) in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + ([f"pulumi.{a.name}" for a in node.names] if node.module == "pulumi" else [])
        elif isinstance(node, ast.Attribute) and node.attr == "runtime" and isinstance(node.value, ast.Name) and node.value.id == "pulumi":
            names = ["pulumi.runtime"]
        for name in names:
            if name == "grpc" or name.startswith(("grpc.", "pulumi.runtime")):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {name}")
    return found


def test_only_internals_touches_pulumi_runtime():
    offenders = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if path.relative_to(REPO).as_posix() != INTERNALS:
                offenders.extend(_internal_uses(path))
    assert not offenders, f"import these from sahab.engine.internals (the one module that touches Pulumi internals), not directly: {offenders}"


def test_the_docstring_names_every_export():
    doc = pi.__doc__ or ""
    missing = [name for name in pi.__all__ if name not in doc]
    assert not missing, f"{INTERNALS}: its docstring table does not list {missing}; say where each lives in Pulumi's source"
    assert "3." in doc and "sdk/python/lib/pulumi/runtime" in doc, (
        f"{INTERNALS}: the docstring must name the Pulumi version and source path it was checked against"
    )


# --- the offline engine --------------------------------------------------------------------------


def test_mocks_base_class_and_its_args():
    user = "sahab/engine/mocks.py ProviderMocks"
    assert inspect.isabstract(pi.Mocks) and {"new_resource", "call"} <= pi.Mocks.__abstractmethods__, where("Mocks (abstract new_resource, call)", user)
    assert params(pi.Mocks.new_resource) == ["self", "args"], where(f"Mocks.new_resource{inspect.signature(pi.Mocks.new_resource)}", user)
    assert params(pi.Mocks.call) == ["self", "args"], where(f"Mocks.call{inspect.signature(pi.Mocks.call)}", user)
    res = pi.MockResourceArgs(typ="aws:s3/bucket:Bucket", name="b", inputs={"region": "me-central-1"}, provider="urn::id")
    assert (res.typ, res.name, res.inputs, res.provider) == ("aws:s3/bucket:Bucket", "b", {"region": "me-central-1"}, "urn::id"), where(
        "MockResourceArgs (typ, name, inputs, provider)", user
    )
    call = pi.MockCallArgs(token="aws:index/getRegion:getRegion", args={"region": "x"}, provider="urn::id")
    assert (call.token, call.args, call.provider) == ("aws:index/getRegion:getRegion", {"region": "x"}, "urn::id"), where(
        "MockCallArgs (token, args, provider)", user
    )


def test_provider_mocks_still_instantiate():
    from sahab.engine.mocks import ProviderMocks

    mocks = ProviderMocks(stack="unit", default_region="me-central-1")
    rid, state = mocks.new_resource(pi.MockResourceArgs(typ="aws:kms/key:Key", name="k", inputs={}, provider=None))
    assert rid and state["arn"].startswith("arn:aws:kms:me-central-1:"), where("Mocks subclassing", "sahab/engine/mocks.py ProviderMocks")


def test_mock_monitor_methods_the_recording_monitor_overrides():
    user = "sahab/engine/offline.py RecordingMonitor"
    assert params(pi.MockMonitor.__init__) == ["self", "mocks"], where(f"MockMonitor.__init__{inspect.signature(pi.MockMonitor.__init__)}", user)
    for method in ("RegisterResource", "RegisterResourceOutputs", "GetDeploymentInfo"):
        fn = getattr(pi.MockMonitor, method, None)
        assert fn is not None and params(fn) == ["self", "request"], where(f"MockMonitor.{method}(self, request)", user)
    monitor = pi.MockMonitor(None)
    assert monitor.resources == {}, where("MockMonitor.resources (a dict urn -> registration)", user)
    assert "state" in pi.MockMonitor.ResourceRegistration._fields, where("MockMonitor.ResourceRegistration.state", user)
    features = monitor.GetDeploymentInfo(None).supportedFeatures
    assert pi.resource_pb2.RESOURCE_MONITOR_FEATURE_SECRETS in features, where("MockMonitor.GetDeploymentInfo().supportedFeatures (secrets)", user)


def test_settings_configure_root_and_config():
    user = "sahab/engine/offline.py run_program"
    wanted = {"project", "stack", "monitor", "engine", "dry_run", "organization"}
    assert wanted <= set(params(pi.Settings.__init__)), where(f"Settings.__init__ lacks {sorted(wanted - set(params(pi.Settings.__init__)))}", user)
    settings = pi.Settings(project="p", stack="s", monitor=None, engine=pi.MockEngine(logging.getLogger("t")), dry_run=False, organization="o")
    assert isinstance(settings.monitor_features, set), where("Settings.monitor_features (a set the engine fills)", user)
    assert "logger" in params(pi.MockEngine.__init__), where("MockEngine(logger)", user)
    assert params(pi.configure) == ["settings"], where(f"configure{inspect.signature(pi.configure)}", user)
    assert isinstance(pi.ROOT, contextvars.ContextVar), where("settings.ROOT (the root resource's ContextVar)", user)
    assert params(pi.set_all_config)[0] == "config", where(f"set_all_config{inspect.signature(pi.set_all_config)}", user)
    assert asyncio.iscoroutinefunction(pi.run_in_stack) and params(pi.run_in_stack) == ["func"], where("async run_in_stack(func)", user)
    assert len(params(pi.register_stack_transformation)) == 1, where(
        f"register_stack_transformation{inspect.signature(pi.register_stack_transformation)}", user
    )


def test_wire_values_the_plan_cleans():
    from pulumi.runtime.rpc import wrap_rpc_secret

    user = "sahab/engine/offline.py _clean and sahab/engine/mocks.py _with"
    secret = wrap_rpc_secret({"a": 1})
    assert pi.SIG_KEY in secret and pi.is_rpc_secret(secret), where("rpc._special_sig_key / is_rpc_secret (how a secret looks on the wire)", user)
    assert not pi.is_rpc_secret({"a": 1}), where("is_rpc_secret (a plain map is not a secret)", user)
    assert isinstance(pi.UNKNOWN, str) and pi.UNKNOWN, where("rpc.UNKNOWN (the unknown-value sentinel string)", user)
    struct = struct_pb2.Struct()
    struct.update({"bucket": "b", "tags": {"team": "ml"}})
    assert params(pi.deserialize_properties)[0] == "props_struct", where(f"deserialize_properties{inspect.signature(pi.deserialize_properties)}", user)
    assert pi.deserialize_properties(struct) == {"bucket": "b", "tags": {"team": "ml"}}, where("deserialize_properties(struct)", user)


def test_mocks_keep_a_secret_object_secret():
    from pulumi.runtime.rpc import wrap_rpc_secret

    from sahab.engine.mocks import _with

    merged = _with(wrap_rpc_secret({"enableRbac": True}), {"vaultUri": "https://v.vault.azure.net/"})
    assert pi.is_rpc_secret(merged) and merged["value"] == {"enableRbac": True, "vaultUri": "https://v.vault.azure.net/"}, where(
        "the secret wrapper (SIG_KEY + value)", "sahab/engine/mocks.py _with"
    )


def test_register_resource_request_fields_the_monitor_reads():
    user = "sahab/engine/offline.py RecordingMonitor and _options"
    request = {
        "type",
        "name",
        "parent",
        "custom",
        "object",
        "provider",
        "protect",
        "dependencies",
        "ignoreChanges",
        "replaceOnChanges",
        "additionalSecretOutputs",
        "deleteBeforeReplace",
        "retainOnDelete",
        "aliases",
        "aliasURNs",
        "deletedWith",
        "version",
    }
    missing = request - fields(pi.resource_pb2.RegisterResourceRequest)
    assert not missing, where(f"resource_pb2.RegisterResourceRequest lacks {sorted(missing)}", user)
    assert {"urn", "id"} <= fields(pi.resource_pb2.RegisterResourceResponse), where("resource_pb2.RegisterResourceResponse (urn, id)", user)
    assert {"urn", "outputs"} <= fields(pi.resource_pb2.RegisterResourceOutputsRequest), where(
        "resource_pb2.RegisterResourceOutputsRequest (urn, outputs)", user
    )


# --- the gate's analyzer protocol ----------------------------------------------------------------

ANALYZER = "sahab/gate/analyzer.py"
# message -> the fields the gate sets or reads
MESSAGES = {
    "AnalyzerHandshakeRequest": {"engine_address", "root_directory", "program_directory"},
    "AnalyzerStackConfigureRequest": {"stack", "project", "organization", "dry_run", "config", "tags"},
    "ConfigureAnalyzerRequest": {"policyConfig"},
    "PolicyConfig": {"enforcementLevel", "properties"},
    "AnalyzerProviderResource": {"type", "urn", "name", "properties"},
    "AnalyzerResourceOptions": {
        "protect",
        "ignoreChanges",
        "deleteBeforeReplace",
        "deleteBeforeReplaceDefined",
        "additionalSecretOutputs",
        "customTimeouts",
        "parent",
    },
    "AnalyzeRequest": {"type", "urn", "name", "properties", "options", "provider"},
    "AnalyzerResource": {"type", "urn", "name", "properties", "options", "provider", "parent", "dependencies"},
    "AnalyzeStackRequest": {"resources"},
    "AnalyzeResponse": {"diagnostics"},
    "AnalyzeDiagnostic": {"urn", "message", "description", "policyPackName", "policyName", "enforcementLevel", "severity"},
    "AnalyzerInfo": {"name", "version", "policies", "initialConfig"},
    "PolicyInfo": {"name", "description", "enforcementLevel", "severity", "configSchema", "policy_type"},
    "PolicyConfigSchema": {"properties", "required"},
}


@pytest.mark.parametrize("message", sorted(MESSAGES))
def test_analyzer_message_fields(message):
    cls = getattr(pi.analyzer_pb2, message, None)
    assert cls is not None, where(f"analyzer_pb2.{message} (gone)", ANALYZER)
    missing = MESSAGES[message] - fields(cls)
    assert not missing, where(f"analyzer_pb2.{message} lacks {sorted(missing)}", ANALYZER)


def test_analyzer_enums_and_nested_messages():
    from sahab.gate.model import LEVELS

    levels = set(pi.analyzer_pb2.EnforcementLevel.keys())
    assert {level.upper() for level in LEVELS} <= levels, where(f"analyzer_pb2.EnforcementLevel {sorted(levels)} vs the gate's {LEVELS}", ANALYZER)
    severities = pi.analyzer_pb2.PolicySeverity.keys()
    assert "POLICY_SEVERITY_UNSPECIFIED" in severities and all(s.startswith("POLICY_SEVERITY_") for s in severities), where(
        f"analyzer_pb2.PolicySeverity names {severities}", ANALYZER
    )
    assert pi.analyzer_pb2.POLICY_TYPE_STACK != pi.analyzer_pb2.POLICY_TYPE_RESOURCE, where("analyzer_pb2.POLICY_TYPE_STACK", ANALYZER)
    assert pi.analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts is not None, where("AnalyzerResourceOptions.CustomTimeouts", ANALYZER)


def test_analyzer_stub_rpcs_and_grpc():
    rpcs = ("Handshake", "ConfigureStack", "GetAnalyzerInfo", "GetPluginInfo", "Configure", "Analyze", "AnalyzeStack")
    channel = pi.grpc.insecure_channel("127.0.0.1:9")  # never called: a stub only needs a channel object
    try:
        stub = pi.analyzer_pb2_grpc.AnalyzerStub(channel)
        missing = [name for name in rpcs if not callable(getattr(stub, name, None))]
        assert not missing, where(f"analyzer_pb2_grpc.AnalyzerStub lacks {missing}", ANALYZER)
        assert callable(getattr(stub.Analyze, "future", None)), where("AnalyzerStub.Analyze.future (the gate pipelines Analyze calls)", ANALYZER)
    finally:
        channel.close()
    for name in ("insecure_channel", "channel_ready_future", "RpcError"):
        assert hasattr(pi.grpc, name), where(f"grpc.{name}", ANALYZER)
    assert pi.grpc.StatusCode.UNIMPLEMENTED, where("grpc.StatusCode.UNIMPLEMENTED", ANALYZER)

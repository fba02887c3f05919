"""Every Pulumi internal Sahab relies on, in one module: the only one that imports `pulumi.runtime`
(and `grpc`, whose version Pulumi's own requirement pins). The offline engine and the policy gate
import these names from here; tests/engine/test_pulumi_internals.py asserts each one still has the
signature, attributes and message fields used below, so a Pulumi upgrade that moves or changes one
fails that test first, naming the symbol and this file.

Checked against pulumi 3.272.0 (the installed SDK: `.venv/bin/pip show pulumi`) and against
pulumi/pulumi at 1b5949891b (sdk 3.260.0-dev), under sdk/python/lib/pulumi/runtime/:

    name                          where                                   what Sahab relies on
    Mocks                         mocks.py `class Mocks(ABC)`             engine/mocks.py subclasses it:
    MockResourceArgs, MockCallArgs mocks.py                               new_resource(args), call(args);
                                                                          args.typ/name/inputs/provider,
                                                                          args.token/args/provider
    MockMonitor                   mocks.py `class MockMonitor`            engine/offline.py's RecordingMonitor:
                                                                          __init__(mocks), RegisterResource(request),
                                                                          RegisterResourceOutputs(request),
                                                                          GetDeploymentInfo(request),
                                                                          .resources[urn].state
    MockEngine                    mocks.py `class MockEngine`             MockEngine(logger): the program's log sink
    Settings, configure, ROOT     settings.py                             Settings(project=, stack=, monitor=,
                                                                          engine=, dry_run=, organization=),
                                                                          .monitor_features; configure(settings);
                                                                          ROOT, the root resource's ContextVar
    set_all_config                config.py                               set_all_config(config): the stack config
    run_in_stack                  stack.py `async def run_in_stack`       runs the program as the root stack
    register_stack_transformation stack.py                                drops azure-native's API-version aliases
    UNKNOWN, is_rpc_secret,       rpc.py                                  engine values to plan.json
      deserialize_properties
    wrap_rpc_secret               rpc.py                                  an output named in additionalSecretOutputs
                                                                          made a secret, as the engine does
    SIG_KEY                       rpc.py `_special_sig_key` (private)     the key marking a special value (secret,
                                                                          asset, resource) in a map on the wire
    resource_pb2                  proto/resource_pb2.py                   RegisterResourceRequest/-Response and
                                  (proto/pulumi/resource.proto)           RegisterResourceOutputsRequest fields
                                                                          the recording monitor reads
    analyzer_pb2,                 proto/analyzer_pb2.py, _grpc.py         gate/analyzer.py speaks the analyzer
      analyzer_pb2_grpc           (proto/pulumi/analyzer.proto)           protocol: messages, enums, AnalyzerStub
    grpc                          grpcio (a requirement of pulumi)        channel, RpcError, StatusCode

Importing this module costs nothing beyond `import pulumi` (which already loads grpc and every
generated proto module); callers that were lazy stay lazy by importing it inside their functions,
as the gate's analyzer does (it imported pulumi.runtime.proto and grpc there before).
"""

from __future__ import annotations

import grpc
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks, register_stack_transformation
from pulumi.runtime.config import set_all_config
from pulumi.runtime.mocks import MockEngine, MockMonitor
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, resource_pb2
from pulumi.runtime.rpc import UNKNOWN, deserialize_properties, is_rpc_secret, wrap_rpc_secret
from pulumi.runtime.rpc import _special_sig_key as SIG_KEY
from pulumi.runtime.settings import ROOT, Settings, configure
from pulumi.runtime.stack import run_in_stack

__all__ = [
    "ROOT",
    "SIG_KEY",
    "UNKNOWN",
    "MockCallArgs",
    "MockEngine",
    "MockMonitor",
    "MockResourceArgs",
    "Mocks",
    "Settings",
    "analyzer_pb2",
    "analyzer_pb2_grpc",
    "configure",
    "deserialize_properties",
    "grpc",
    "is_rpc_secret",
    "register_stack_transformation",
    "resource_pb2",
    "run_in_stack",
    "set_all_config",
    "wrap_rpc_secret",
]

"""Two places where the offline engine was kinder than the engine and providers it stands in for
(issue 21): an auto-named EventBridge rule got no `name` (so a target lost its `rule`), and
`additionalSecretOutputs` was ignored (a generated password showed in plain text in the plan). And the
AKS credentials invoke answers as AKS does: a kubelogin device-code login, which the program must
replace (components/azure/cluster.py)."""

from __future__ import annotations

import base64

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import yaml

from sahab.engine.internals import MockResourceArgs
from sahab.engine.mocks import TENANT_ID, ProviderMocks, azure_call
from tests.components.component_helpers import SECRET, build


class _Scheduled(pulumi.ComponentResource):
    """A rule auto-named by Pulumi and a target that names it, as components/aws/audit.py wires them."""

    def __init__(self, name: str):
        super().__init__("test:aws:Scheduled", name, None, None)
        child = pulumi.ResourceOptions(parent=self)
        rule = aws.cloudwatch.EventRule(f"{name}-rule", schedule_expression="rate(1 hour)", opts=child)
        aws.cloudwatch.EventTarget(f"{name}-target", rule=rule.name, arn="arn:aws:sqs:me-central-1:123456789012:q", opts=child)
        self.register_outputs({})


class _Password(pulumi.ComponentResource):
    def __init__(self, name: str):
        super().__init__("test:random:Password", name, None, None)
        password = random.RandomPassword(f"{name}-password", length=16, opts=pulumi.ResourceOptions(parent=self))
        self.plain = password.result
        self.register_outputs({})


def test_auto_named_event_rule_gets_a_name_its_target_reads():
    state = ProviderMocks(stack="unit", default_region="me-central-1").new_resource(
        MockResourceArgs(typ="aws:cloudwatch/eventRule:EventRule", name="r", inputs={}, provider="", resource_id="", custom=True)
    )[1]
    assert state.get("name", "").startswith("r-"), f"aws:cloudwatch/eventRule:EventRule: auto-named rule state has name {state.get('name')!r}"
    built = build(lambda: _Scheduled("s"))
    rule, target = built.child("s-rule"), built.child("s-target")
    assert target.inputs.get("rule") == rule.outputs["name"], f"{target.urn}: rule {target.inputs.get('rule')!r}, expected {rule.outputs['name']!r}"


def test_additional_secret_outputs_are_secret_offline():
    built = build(lambda: _Password("p"))
    password = built.child("p-password", "random:index/randomPassword:RandomPassword")
    assert "result" in password.options.get("additionalSecretOutputs", []), f"{password.urn}: pulumi-random no longer asks for a secret result"
    assert password.outputs["result"] == SECRET, f"{password.urn}: outputs.result {password.outputs['result']!r} is not a secret"
    plain = built.output("plain")
    assert plain.secret and plain.value.startswith("offline-"), f"{built.urn}: password.result reaches the program as a plain value"


def test_aks_user_credentials_answer_a_device_code_login_as_aks_does():
    answer = azure_call("azure-native:containerservice:listManagedClusterUserCredentials", {"resourceName": "c", "resourceGroupName": "rg"})
    doc = yaml.safe_load(base64.b64decode(answer["kubeconfigs"][0]["value"]))
    (user,) = doc["users"]
    args = user["user"]["exec"]["args"]
    assert user["user"]["exec"]["command"] == "kubelogin", f"listManagedClusterUserCredentials: exec {user['user']['exec']}"
    assert args[args.index("--login") + 1] == "devicecode", f"listManagedClusterUserCredentials: --login is not AKS's devicecode: {args}"
    assert args[args.index("--tenant-id") + 1] == TENANT_ID and "--client-id" in args, f"listManagedClusterUserCredentials: args {args}"

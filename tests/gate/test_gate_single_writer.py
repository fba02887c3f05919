"""Single-writer resources (sahab/gate/deployability/single_writer.py): the children of one PostgreSQL
flexible server form a chain. Broken variants of the uae-north plan."""

from __future__ import annotations

import copy

from deploy_helpers import cut, messages, one

from sahab.gate.deployability import single_writer
from sahab.gate.deployability.plan_graph import PlanGraph

SERVER = "azure-native:dbforpostgresql:Server"
CONFIGURATION = "azure-native:dbforpostgresql:Configuration"
DATABASE = "azure-native:dbforpostgresql:Database"
POLICY = "single-writer-postgres"


def test_shipped_server_children_form_a_chain(north_ctx):
    server = one(north_ctx, SERVER)
    kids = single_writer.children(north_ctx, server)
    assert {k.type for k in kids} >= {CONFIGURATION, DATABASE}, [k.name for k in kids]
    assert messages(single_writer.check(north_ctx), POLICY) == [], "uae-north: the server's configuration and database are chained"


def test_aws_and_onprem_have_no_single_writer_findings(uae_ctx, onprem_ctx):
    for ctx in (uae_ctx, onprem_ctx):
        assert single_writer.check(ctx) == [], f"{ctx.spec.get('name')}: no PostgreSQL flexible server, nothing to chain"


def test_database_created_in_parallel_with_a_configuration_fails(north_ctx):
    database, configuration = one(north_ctx, DATABASE), one(north_ctx, CONFIGURATION)
    graph = PlanGraph(north_ctx.plan.resources)
    first, second = (configuration, database) if graph.waits(database.urn, configuration.urn) else (database, configuration)
    cut(north_ctx, second, first)
    found = messages(single_writer.check(north_ctx), POLICY)
    assert len(found) == 1, found
    assert first.name in found[0] and second.name in found[0] and "ServerIsBusy" in found[0] and "one operation at a time" in found[0], found[0]
    assert "Fix: chain the server's children: make" in found[0], found[0]


def test_a_second_unchained_configuration_fails(north_ctx):
    configuration = one(north_ctx, CONFIGURATION)
    extra = copy.deepcopy(configuration)
    extra.urn, extra.name = configuration.urn + "-logs", configuration.name + "-logs"
    extra.inputs["configurationName"] = "log_connections"
    extra.options["dependsOn"] = [d for d in configuration.options.get("dependsOn", []) if north_ctx.plan.get(d).type == SERVER]
    north_ctx.plan.resources.append(extra)
    found = messages(single_writer.check(north_ctx), POLICY)
    assert found and any(extra.name in m for m in found), found


def test_children_of_another_server_are_not_chained_with_these(north_ctx):
    configuration = one(north_ctx, CONFIGURATION)
    other = copy.deepcopy(configuration)
    other.urn, other.name = configuration.urn + "-other", configuration.name + "-other"
    other.inputs["serverName"] = "another-server"
    other.options["dependsOn"] = []
    north_ctx.plan.resources.append(other)
    assert messages(single_writer.check(north_ctx), POLICY) == [], "a configuration of another server runs on that server"

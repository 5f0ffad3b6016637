"""A nested Traffic Manager endpoint: its traffic goes to a child profile, so the child profile is part of that
endpoint's path ("Nested Traffic Manager profiles"), and whoever can change the child changes that path."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.connectors.azure.test_connector_cli import environment, scan, write_config

from commonmode_sandbox.azure import AzureEstate
from commonmode_sandbox.servers import start_azure


def test_a_nested_endpoint_s_path_includes_its_child_profile(tmp_path: Path) -> None:
    e = AzureEstate(seed=17)
    sub = e.subscription("prod")["subscriptionId"]
    rg = e.resource_group(sub, "edge")
    child = e.traffic_manager_profile(rg, "eu-tm", routing_method="Weighted", relative_name="eu-tm")
    e.traffic_manager_endpoint(child["id"], "a", target="a.eu.example.net", weight=50)
    e.traffic_manager_endpoint(child["id"], "b", target="b.eu.example.net", weight=50)
    parent = e.traffic_manager_profile(rg, "edge-tm", relative_name="edge-tm")
    nested = e.traffic_manager_endpoint(parent["id"], "eu", kind="nestedEndpoints", target_resource_id=child["id"],
                                        priority=1)
    backup = e.traffic_manager_endpoint(parent["id"], "dr", target="dr.example.org", priority=2)
    app = e.application("eu-ops")
    e.role_assignment(child["id"], e.service_principal_for(app["appId"])["id"], "Traffic Manager Contributor")
    servers = start_azure(e, separate=True)
    try:
        proc = scan(write_config(tmp_path, servers, e), environment(e))
    finally:
        servers.stop()
    assert proc.returncode == 0, proc.stderr
    db = sqlite3.connect(tmp_path / "cm.db")
    parents = dict(db.execute("SELECT id, parents FROM resources").fetchall())
    assert json.loads(parents[nested["id"]]) == [parent["id"], child["id"]]
    assert json.loads(parents[backup["id"]]) == [parent["id"]]  # an external endpoint has no child
    (primary,) = [json.loads(p) for (p,) in db.execute("SELECT primary_path FROM services")]
    assert primary[0] == nested["id"]

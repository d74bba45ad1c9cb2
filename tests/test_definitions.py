"""The Dagster definitions load, and the asset graph has the shape the UI promises."""

import dagster as dg

from pipeline.definitions import build_definitions, defs


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_assets_grouped_by_layer_with_prefix_equal_to_group():
    graph = build_definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert key.path[0] == node.group_name, key


def test_every_sdtm_domain_has_a_blocking_schema_check():
    d = build_definitions()
    graph = d.resolve_asset_graph()
    sdtm = [k for k in graph.get_all_asset_keys() if k.path[0] == "sdtm"]
    assert sdtm
    for key in sdtm:
        specs = list(graph.get(key).check_keys)
        assert dg.AssetCheckKey(key, "schema") in specs, key

"""The Dagster definitions load, and the asset graph has the shape the UI promises."""

import dagster as dg

from pipeline.definitions import build_definitions, defs
from pipeline.specs.datasets import load_dataset_spec


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


def test_every_dataset_asset_carries_its_schema_and_lineage_before_any_run():
    graph = build_definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if key.path[0] not in ("sdtm", "adam"):
            continue
        meta = graph.get(key).metadata
        schema = meta["dagster/column_schema"]
        assert schema.columns and all(c.description for c in schema.columns), key
        spec = load_dataset_spec(key.path[0], key.path[1])
        # The lineage table: its header, then one row per variable of the spec, in spec order, with its origin.
        table = meta["variable lineage"].value.splitlines()
        header = table.index("| Variable | Label | Origin | Sources | Derivation |")
        assert table[header + 1] == "|---|---|---|---|---|", key
        rows = [line.split(" | ") for line in table[header + 2 : header + 2 + len(spec.variables)]]
        assert [r[0] for r in rows] == [f"| {v.name}" for v in spec.variables], key
        assert [r[2] for r in rows] == [v.origin for v in spec.variables], key
        lineage = meta["dagster/column_lineage"]
        # Self-references (e.g. ACTARM from DM.ACTARMCD) are not lineage to another asset.
        with_sources = {v.name for v in spec.variables if any(not s.startswith(spec.name + ".") for s in v.sources)}
        assert with_sources <= set(lineage.deps_by_column), key


def test_adtte_aval_traces_back_to_sdtm():
    graph = build_definitions().resolve_asset_graph()
    deps = graph.get(dg.AssetKey(["adam", "adtte"])).metadata["dagster/column_lineage"].deps_by_column
    sources = {(tuple(d.asset_key.path), d.column_name) for d in deps["ADT"]}
    assert (("sdtm", "rs"), "RSDTC") in sources and (("adam", "adsl"), "LSTALVDT") in sources

"""The comparability protocol: defaults, partial files, validation messages, the record and variability margins."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
from pathlib import Path

import pytest
import yaml

from mscseq.comparability.protocol import (
    Protocol,
    default_protocol_path,
    load_protocol,
    parse_protocol,
    variability_margin,
)
from mscseq.errors import MscseqError


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_default_resolves_to_the_dataclass_defaults() -> None:
    protocol, record = load_protocol(None)
    assert protocol == Protocol()
    assert record["source"] == "default"
    assert record["sha256"] == hashlib.sha256(default_protocol_path().read_bytes()).hexdigest()
    assert record["protocol"] == Protocol().to_dict()
    # every key of the resolved protocol is written in the shipped file (the file documents them all)
    shipped = yaml.safe_load(default_protocol_path().read_text())
    assert shipped == {k: v for k, v in Protocol().to_dict().items()}


def test_default_values_are_those_of_the_brief() -> None:
    p = Protocol()
    assert (p.version, p.alpha, p.power, p.reference) == (1, 0.05, 0.8, None)
    assert (p.tier1.min_mean, p.tier1.default_margin) == (
        50.0,
        0.5,
    )  # the Tier-2 floor (protocol.md)
    assert p.tier1.required == ("isct_identity", "licensing_potency")
    assert (p.tier2.gene_margin, p.tier2.f0, p.tier2.min_mean, p.tier2.gene_list) == (
        1.0,
        0.01,
        50.0,
        None,
    )
    assert p.tier2.exclude == ("sex", "hla", "genotype", "cnv")
    assert (p.products.min_peers, p.products.alpha) == (6, 0.05)
    sg = p.single_group
    assert (sg.tau, sg.score_tau, sg.split_alpha, sg.spread_min_mean) == (0.5, 0.35, 0.05, 50.0)
    assert p.variability_margins.enabled is False
    assert p.variability_margins.min_reference == 6


def test_to_dict_is_json_and_the_protocol_is_frozen_and_picklable() -> None:
    p = Protocol()
    assert json.loads(json.dumps(p.to_dict())) == p.to_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.alpha = 0.1  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(p)) == p
    assert hash(p) == hash(Protocol())


def test_partial_file_overrides_only_what_it_states(tmp_path: Path) -> None:
    path = write(
        tmp_path, "tier2:\n  f0: 0.02\ntier1:\n  panels:\n    proliferation: {margin: 0.8}\n"
    )
    protocol, record = load_protocol(path)
    assert protocol.tier2.f0 == 0.02
    assert protocol.tier2.gene_margin == 1.0  # unchanged sibling
    assert protocol.tier1.default_margin == 0.5
    assert protocol.margin_for("proliferation") == 0.8
    assert protocol.margin_for("licensing_potency") == 0.5  # default margin
    assert record["source"] == str(path)
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["protocol"]["tier2"]["f0"] == 0.02
    assert record["protocol"]["tier1"]["panels"] == {"proliferation": {"margin": 0.8}}


def test_a_panel_may_set_its_own_score_tolerance(tmp_path: Path) -> None:
    text = "single_group:\n  score_tau: 0.4\ntier1:\n  panels:\n    mine: {score_tau: 0.6}\n"
    protocol, record = load_protocol(write(tmp_path, text))
    assert protocol.score_tau_for("mine") == 0.6
    assert protocol.margin_for("mine") == 0.5  # no margin given: the default margin
    assert protocol.score_tau_for("licensing_potency") == 0.4
    assert record["protocol"]["tier1"]["panels"] == {"mine": {"score_tau": 0.6}}


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    protocol, record = load_protocol(write(tmp_path, "# nothing changed\n"))
    assert protocol == Protocol()
    assert record["sha256"] != load_protocol(None)[1]["sha256"]


def test_lists_replace_and_reference_may_be_a_number(tmp_path: Path) -> None:
    protocol, _ = load_protocol(write(tmp_path, "reference: 2019\ntier2:\n  exclude: [sex]\n"))
    assert protocol.reference == "2019"
    assert protocol.tier2.exclude == ("sex",)


def test_gene_list_is_resolved_against_the_protocol_folder(tmp_path: Path) -> None:
    sub = tmp_path / "protocols"
    sub.mkdir()
    (sub / "genes.txt").write_text("COL1A1\nENSG00000135318\n")
    protocol, record = load_protocol(write(sub, "tier2:\n  gene_list: genes.txt\n"))
    assert protocol.tier2.gene_list == str((sub / "genes.txt").resolve())
    assert record["protocol"]["tier2"]["gene_list"] == protocol.tier2.gene_list


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("tier2:\n  fo: 0.02\n", ["tier2.fo", "unknown key", "did you mean 'f0'"]),
        ("teir1: {}\n", ["teir1", "did you mean 'tier1'"]),
        (
            "tier1:\n  panels:\n    x: {margn: 1}\n",
            ["tier1.panels.x.margn", "did you mean 'margin'"],
        ),
        ("tier2:\n  f0: 0.7\n", ["tier2.f0", "between 0 and 0.5", "0.7"]),
        ("tier2:\n  f0: 0\n", ["tier2.f0", "between 0 and 0.5"]),
        ("tier2:\n  gene_margin: -1\n", ["tier2.gene_margin", "> 0"]),
        ("tier1:\n  default_margin: 0\n", ["tier1.default_margin", "> 0"]),
        ("tier1:\n  panels:\n    p: {margin: 0}\n", ["tier1.panels.p.margin", "> 0"]),
        ("tier1:\n  panels:\n    p: {}\n", ["tier1.panels.p", "margin and/or score_tau"]),
        ("tier1:\n  panels:\n    p: {score_tau: -1}\n", ["tier1.panels.p.score_tau", "> 0"]),
        ("single_group:\n  score_tau: 0\n", ["single_group.score_tau", "> 0"]),
        ("alpha: 0.5\n", ["alpha", "between 0 and 0.5"]),
        ("products:\n  alpha: 0\n", ["products.alpha", "between 0 and 0.5"]),
        ("single_group:\n  tau: 0\n", ["single_group.tau", "> 0"]),
        ("products:\n  min_peers: 2\n", ["products.min_peers", ">= 3"]),
        ("products:\n  min_peers: 6.5\n", ["products.min_peers", "whole number"]),
        ("tier2:\n  f0: high\n", ["tier2.f0", "must be a number", "'high'"]),
        ("tier2:\n  f0: true\n", ["tier2.f0", "must be a number"]),
        ("tier2:\n  f0: .nan\n", ["tier2.f0", "finite"]),
        ("tier2:\n  f0: null\n", ["tier2.f0", "null"]),
        ("tier2: 3\n", ["tier2", "section"]),
        ("tier2:\n  exclude: [sex, eyes]\n", ["tier2.exclude", "may hold only"]),
        ("tier1:\n  required: isct_identity\n", ["tier1.required", "list"]),
        ("variability_margins:\n  enabled: 1\n", ["variability_margins.enabled", "true or false"]),
        (
            "variability_margins:\n  min_reference: 4\n",
            ["variability_margins.min_reference", ">= 6"],
        ),
        ("variability_margins:\n  floor: 0.8\n  cap: 0.5\n", ["variability_margins.cap", "floor"]),
        ("version: 2\n", ["version", "must be 1"]),
        ("tier2:\n  gene_list: nowhere.txt\n", ["tier2.gene_list", "not found", "nowhere.txt"]),
        ("- a\n- b\n", ["YAML mapping"]),
        ("tier2: [unclosed\n", ["not valid YAML", "line"]),
    ],
)
def test_each_problem_is_one_line_naming_the_file_and_key(
    tmp_path: Path, text: str, words: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(MscseqError) as info:
        load_protocol(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    for word in words:
        assert word in message, message


def test_missing_or_folder_protocol_file(tmp_path: Path) -> None:
    with pytest.raises(MscseqError, match=r"absent\.yaml: --protocol file not found"):
        load_protocol(tmp_path / "absent.yaml")
    with pytest.raises(MscseqError, match="--protocol is a folder"):
        load_protocol(tmp_path)


def test_parse_protocol_names_the_source() -> None:
    with pytest.raises(MscseqError, match=r"^mine\.yaml: tier2\.f0"):
        parse_protocol("tier2: {f0: 2}", source="mine.yaml")
    assert parse_protocol(b"alpha: 0.025").alpha == 0.025


def test_variability_margin() -> None:
    kw = {"k": 1.5, "floor": 0.25, "cap": 1.0}
    # sigma_R = sqrt(0.5^2 - 0.3^2) = 0.4 -> 1.5 * 0.4 = 0.6
    assert variability_margin(0.5, 0.3, 6, **kw) == pytest.approx(0.6)
    # technical noise larger than the total: sigma_R = 0 -> the floor
    assert variability_margin(0.2, 0.3, 8, **kw) == 0.25
    # very variable reference: clamped to the cap
    assert variability_margin(2.0, 0.0, 10, **kw) == 1.0
    with pytest.raises(MscseqError, match="at least 6 reference products, got 5"):
        variability_margin(0.5, 0.3, 5, **kw)
    with pytest.raises(MscseqError, match="at least 8 reference products"):
        variability_margin(0.5, 0.3, 7, min_reference=8, **kw)
    with pytest.raises(MscseqError, match="finite"):
        variability_margin(float("nan"), 0.0, 6, **kw)


def test_an_empty_gene_list_fails_at_load(tmp_path: Path) -> None:
    (tmp_path / "none.txt").write_text("# no genes yet\n")
    with pytest.raises(MscseqError, match=r"none\.txt: protocol tier2\.gene_list holds no genes"):
        load_protocol(write(tmp_path, "tier2:\n  gene_list: none.txt\n"))

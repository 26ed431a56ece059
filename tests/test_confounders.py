"""Confounders of a group comparison: batch aliasing, depth balance, sex balance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mscseq.comparability import confounders as cf


def test_batch_status_aliased_bridged_none():
    labels = np.array(["A", "A", "B", "B"])
    aliased = cf.batch_status(labels, ["r1", "r1", "r2", "r2"], column="run")
    assert aliased["status"] == "aliased" and aliased["aliased_pairs"] == [["A", "B"]]
    assert aliased["table"] == {"A": {"r1": 2}, "B": {"r2": 2}}
    assert "aliased" in aliased["note"] and "'run'" in aliased["note"]
    bridged = cf.batch_status(labels, ["r1", "r2", "r2", "r3"])
    assert bridged["status"] == "bridged" and bridged["aliased_pairs"] == []
    assert bridged["table"] == {"A": {"r1": 1, "r2": 1}, "B": {"r2": 1, "r3": 1}}
    assert cf.batch_status(labels, None)["status"] == "none"
    # a single group: nothing to alias
    assert cf.batch_status(None, ["r1", "r2", "r1", "r2"])["status"] == "none"
    for out in (aliased, bridged):
        assert json.loads(json.dumps(out)) == out
        assert "\n" not in out["note"]


def test_batch_status_several_levels_and_missing_values():
    labels = np.array(["A", "A", "B", "B", "C", "C"])
    batch = ["r1", "r2", "r1", "r2", "r3", None]
    out = cf.batch_status(labels, batch)
    assert out["status"] == "aliased"
    assert out["aliased_pairs"] == [["A", "C"], ["B", "C"]]
    assert out["table"]["C"] == {"(missing)": 1, "r3": 1}
    # one comparison at a time
    assert cf.batch_status(labels, batch, target="B", reference="A")["status"] == "bridged"
    assert cf.batch_status(labels, batch, target="C", reference="A")["status"] == "aliased"
    # missing batch values never bridge
    assert cf.batch_status(["A", "B"], [None, None])["status"] == "aliased"


def test_depth_balance():
    labels = ["A", "A", "A", "B", "B", "B"]
    out = cf.depth_balance([10e6, 12e6, 11e6, 30e6, 28e6, 31e6], labels)
    assert out["median"] == {"A": 11e6, "B": 30e6}
    assert out["ratio"] == pytest.approx(30 / 11) and out["unequal"] is True
    assert "B" in out["note"] and "A" in out["note"]
    even = cf.depth_balance([10e6, 12e6, 11e6, 20e6, 15e6, 21e6], labels)
    assert even["unequal"] is False and even["ratio"] == pytest.approx(20 / 11)
    single = cf.depth_balance([1e6, 3e6], None)
    assert (
        single["median"] == {"all": 2e6} and single["unequal"] is False and single["ratio"] == 1.0
    )
    zero = cf.depth_balance([0, 0, 5, 5], ["A", "A", "B", "B"])
    assert zero["ratio"] is None and zero["unequal"] is True
    assert json.loads(json.dumps(out)) == out


def test_sex_balance():
    labels = ["A"] * 3 + ["B"] * 3
    sex = pd.Series(["male"] * 3 + ["female"] * 3, index=list("uvwxyz"))
    out = cf.sex_balance(sex, labels)
    assert out["counts"]["A"] == {"female": 0, "male": 3, "unknown": 0}
    assert out["female_fraction"] == {"A": 0.0, "B": 1.0} and out["imbalanced"] is True
    assert "imbalanced" in out["note"]
    # both single-sex and the same sex: balanced
    assert cf.sex_balance(pd.Series(["female"] * 6), labels)["imbalanced"] is False
    # one level single-sex, the other mixed (fractions differ by only 1/3)
    mixed = cf.sex_balance(pd.Series(["female"] * 3 + ["female", "female", "male"]), labels)
    assert mixed["imbalanced"] is True and "mixed" in mixed["note"]
    # both mixed, fractions 2/3 vs 1/3: balanced (difference below 0.5)
    even = cf.sex_balance(pd.Series(["female", "female", "male", "female", "male", "male"]), labels)
    assert even["imbalanced"] is False
    # fractions 3/4 vs 1/4 differ by 0.5: imbalanced
    four = cf.sex_balance(
        pd.Series(["female"] * 3 + ["male"] + ["female"] + ["male"] * 3), ["A"] * 4 + ["B"] * 4
    )
    assert four["imbalanced"] is True
    # unknowns are counted but not used in the fractions
    unk = cf.sex_balance(
        pd.Series(["unknown", "female", "male", "unknown", "unknown", "unknown"]), labels
    )
    assert unk["counts"]["B"]["unknown"] == 3 and unk["female_fraction"]["B"] is None
    assert unk["imbalanced"] is False and "could not be compared" in unk["note"]
    single = cf.sex_balance(pd.Series(["female", "male"]), None)
    assert (
        single["counts"] == {"all": {"female": 1, "male": 1, "unknown": 0}}
        and not single["imbalanced"]
    )
    assert json.loads(json.dumps(out)) == out


def test_symmetry_of_level_order():
    """Swapping which level comes first changes no decision."""
    labels = np.array(["A"] * 3 + ["B"] * 3)
    flipped = labels[::-1]
    sizes = np.array([1e6, 2e6, 3e6, 9e6, 9e6, 9e6])
    assert (
        cf.depth_balance(sizes, labels)["ratio"] == cf.depth_balance(sizes[::-1], flipped)["ratio"]
    )
    sex = pd.Series(["female"] * 3 + ["male", "female", "male"])
    assert (
        cf.sex_balance(sex, labels)["imbalanced"]
        == cf.sex_balance(sex[::-1], flipped)["imbalanced"]
    )
    batch = np.array(["r1", "r1", "r2", "r2", "r3", "r3"])
    assert (
        cf.batch_status(labels, batch)["status"] == cf.batch_status(flipped, batch[::-1])["status"]
    )

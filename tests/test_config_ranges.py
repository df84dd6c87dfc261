"""Every config section states the valid range of each value next to its field, and the
one ``from_dict`` rejects a value out of it with one line naming the key.

Read generically off the dataclass fields: a numeric field (int, float, a tuple of ints,
or one of those or None) carries a :func:`genlab.config.ranged` rule, a ``Literal`` field
has its choices, and anything else is listed in :data:`UNCONSTRAINED` with the reason.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import pytest

from genlab.config import DataConfig, TrainConfig, from_dict, literal_choices, merge, nest
from genlab.data.dataset import DataMeta
from genlab.errors import ConfigError
from genlab.family import get_family
from genlab.registry import FAMILIES

# (section prefix, config dataclass): the run's sections, every family's model section
# and every family's sampling options (bare keys on `genlab sample`)
SECTIONS: list[tuple[str, type]] = [("train.", TrainConfig), ("data.", DataConfig)]
SECTIONS += [("model.", get_family(name).config) for name in sorted(FAMILIES)]
SECTIONS += [
    ("", fam.sampling) for fam in map(get_family, sorted(FAMILIES)) if fam.sampling is not None
]
IDS = [f"{prefix}{cls.__name__}" for prefix, cls in SECTIONS]

# numeric fields that take any value on purpose, "Class.field": why
UNCONSTRAINED = {
    "TrainConfig.seed": "any integer seeds the generators",
    "DataConfig.seed": "any integer seeds the sampling and the splits",
}

# values tried against each rule: those it rejects must be rejected by from_dict
CANDIDATES: dict[type, list[Any]] = {
    int: [-1, 0, 3, 10**9],
    float: [-1.0, 0.0, 0.5, 1.0, 2.0],
    tuple: [[-1], [0], []],
}

# data of each shape and size the family's data defaults choose by
METAS = [
    DataMeta("digits", (1, 8, 8), 17, 10),
    DataMeta("mnist", (1, 28, 28), 256, 10),
    DataMeta("cifar10", (3, 32, 32), 256, 10),
    DataMeta("toy2d:moons", (2,), None, None),
]


def kind(tp: Any) -> type | None:
    """int, float or tuple for a numeric field type (None allowed), else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        return kind(members[0]) if len(members) == 1 else None
    if typing.get_origin(tp) is tuple:
        return tuple if typing.get_args(tp)[0] is int else None
    return tp if tp in (int, float) else None


def numeric_fields(cls: type) -> list[tuple[dataclasses.Field, type]]:
    hints = typing.get_type_hints(cls)
    return [(f, k) for f in dataclasses.fields(cls) if (k := kind(hints[f.name])) is not None]


def literal_fields(cls: type) -> list[tuple[dataclasses.Field, tuple[Any, ...]]]:
    hints = typing.get_type_hints(cls)
    found = [(f, literal_choices(hints[f.name])) for f in dataclasses.fields(cls)]
    return [(f, choices) for f, choices in found if choices]


def test_the_sections_hold_the_run_and_every_family():
    classes = {cls for _, cls in SECTIONS}
    assert {TrainConfig, DataConfig} <= classes
    assert {get_family(name).config for name in FAMILIES} <= classes
    assert all(name.split(".")[0] in {c.__name__ for c in classes} for name in UNCONSTRAINED)


@pytest.mark.parametrize(("prefix", "cls"), SECTIONS, ids=IDS)
def test_every_numeric_field_states_its_range(prefix: str, cls: type):
    missing = [
        f"{prefix}{f.name}"
        for f, _ in numeric_fields(cls)
        if "range" not in f.metadata and f"{cls.__name__}.{f.name}" not in UNCONSTRAINED
    ]
    assert missing == [], f"no range next to {missing}: use genlab.config.ranged"
    free = [f.name for f, _ in numeric_fields(cls) if f"{cls.__name__}.{f.name}" in UNCONSTRAINED]
    assert all("range" not in cls.__dataclass_fields__[name].metadata for name in free)


@pytest.mark.parametrize(("prefix", "cls"), SECTIONS, ids=IDS)
def test_a_value_out_of_range_is_one_line_naming_its_key(prefix: str, cls: type):
    cls()  # the defaults are in range
    for f, k in numeric_fields(cls):
        if "range" not in f.metadata:
            continue
        valid, what = f.metadata["range"]
        bad = [v for v in CANDIDATES[k] if not valid(tuple(v) if k is tuple else v)]
        assert bad, f"{prefix}{f.name} ({what}) accepts every candidate: is it unconstrained?"
        for value in bad:
            text = ",".join(map(str, value)) if k is tuple else str(value)
            with pytest.raises(ConfigError) as err:
                from_dict(cls, {f.name: text}, prefix)
            message = str(err.value)
            assert message.startswith(f"{prefix}{f.name}=") and what in message, message
            assert "\n" not in message and "--" not in message, message


@pytest.mark.parametrize(("prefix", "cls"), SECTIONS, ids=IDS)
def test_a_literal_outside_its_choices_is_one_line_naming_its_key(prefix: str, cls: type):
    for f, choices in literal_fields(cls):
        with pytest.raises(ConfigError) as err:
            from_dict(cls, {f.name: "nonsense"}, prefix)
        message = str(err.value)
        assert message.startswith(f"{prefix}{f.name}='nonsense'"), message
        assert "|".join(map(str, choices)) in message and "\n" not in message
        # built in Python, past from_dict's types, the range still holds
        with pytest.raises(ConfigError, match=f"^{prefix}{f.name}='nonsense' is out of range"):
            cls(**{f.name: "nonsense"})


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_defaults_and_presets_are_in_range(name: str):
    fam = get_family(name)
    for meta in METAS:
        for n_train in (1437, 60_000):
            layers = nest(dict(fam.defaults))
            if fam.data_defaults is not None:
                layers = merge(layers, nest(dict(fam.data_defaults(meta, n_train))))
            for preset in [{}, *fam.presets.values()]:
                merged = merge(layers, nest(dict(preset)))
                from_dict(TrainConfig, merged.get("train"), "train.")
                from_dict(DataConfig, merged.get("data"), "data.")
                from_dict(fam.config, merged.get("model"), "model.")

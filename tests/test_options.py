from __future__ import annotations

from collections.abc import Callable

import pytest

from msmvp import options
from msmvp.errors import IncompatibleOptionsError, NotBuiltError, UnknownOptionError


def test_defaults_match_the_product_brief() -> None:
    assert options.defaults() == {
        "protocol": "rest",
        "messaging": "none",
        "data": "db-per-service",
        "discovery": "dns",
        "auth": "jwt",
        "deploy": "both",
        "gateway": "envoy",
        "ci": "github",
        "iac": "terraform",
        "cache": "redis",
    }


def test_every_default_is_built() -> None:
    options.check_built(options.defaults())


@pytest.mark.parametrize(
    ("given", "error", "text"),
    [
        ({"colour": "red"}, UnknownOptionError, "unknown option 'colour'"),
        ({"gateway": "kong"}, UnknownOptionError, "gateway='kong' is not a value of gateway"),
        ({"data": "eventual"}, IncompatibleOptionsError, "eventual consistency needs a message broker"),
        ({"data": "shared-db"}, NotBuiltError, "data=shared-db is planned but not built yet"),
    ],
)
def test_bad_options_are_rejected_with_a_hint(
    given: dict[str, str], error: type[Exception], text: str, not_built: Callable[..., None]
) -> None:
    not_built(data=("shared-db",))
    with pytest.raises(error) as info:
        options.validate(given)
    assert text in str(info.value)
    assert info.value.hint  # type: ignore[attr-defined]


def test_rule_is_checked_before_build_state() -> None:
    # eventual + messaging none breaks a rule even though neither value set is complete
    with pytest.raises(IncompatibleOptionsError, match="messaging"):
        options.validate({"data": "eventual", "messaging": "none"}, require_built=False)


def test_combinations_enumerate_valid_sets_only() -> None:
    everything = list(options.combinations(built_only=False))
    total = 1
    for axis in options.AXES:
        total *= len(axis.values)
    assert not [c for c in everything if c["data"] == "eventual" and c["messaging"] == "none"]
    assert [c for c in everything if c["protocol"] == "grpc" and c["discovery"] == "etcd"], (
        "gRPC resolves through a registry"
    )
    # eventual x none removed (1/12 of all)
    assert len(everything) == total - total // 12
    built = list(options.combinations())
    assert options.defaults() in built
    assert all(options.validate(c) == c for c in built)

from __future__ import annotations

import pytest

from msmvp.errors import InvalidNameError
from msmvp.manifest import parse_services
from msmvp.names import check_name, module_name


@pytest.mark.parametrize("name", ["shop", "order-items", "a", "svc2", "a" * 40])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name
    assert module_name(name).isidentifier()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("", "empty"),
        ("../x", "not a DNS label"),
        ("My Service!", "not a DNS label"),
        ("Users", "not a DNS label"),
        ("2fast", "not a DNS label"),
        ("trailing-", "not a DNS label"),
        ("double--dash", "not a DNS label"),
        ("class", "Python keyword"),
        ("a" * 41, "at most 40"),
        ("tests", "reserved"),
    ],
)
def test_invalid_names(name: str, text: str) -> None:
    with pytest.raises(InvalidNameError, match=text):
        check_name(name)


def test_service_list_without_calls_chains_them() -> None:
    services = parse_services("users,orders,billing")
    assert [(s.name, s.calls) for s in services] == [("users", []), ("orders", ["users"]), ("billing", ["orders"])]


def test_service_list_with_explicit_calls() -> None:
    services = parse_services("users,orders:users,billing:orders+users")
    assert [(s.name, s.calls) for s in services] == [
        ("users", []),
        ("orders", ["users"]),
        ("billing", ["orders", "users"]),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("users,users", "listed twice"),
        ("", "no services"),
        ("users,,orders", "empty"),
        ("orders:payments", "not a service"),
    ],
)
def test_bad_service_lists(text: str, match: str) -> None:
    with pytest.raises(Exception, match=match):
        parse_services(text)

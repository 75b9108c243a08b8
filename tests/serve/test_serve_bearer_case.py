"""The Authorization scheme is case-insensitive (RFC 9110 §11.1): `bearer KEY` is as good as `Bearer KEY`."""

import pytest

from polyedit.serve.server import authorisation_matches


@pytest.mark.parametrize("header, ok", [("Bearer k3y", True), ("bearer k3y", True), ("BEARER k3y", True),
                                        ("Bearer  k3y", False), ("Bearer K3Y", False), ("Basic k3y", False),
                                        ("k3y", False), ("", False), ("bearer", False)])
def test_the_scheme_is_case_insensitive_and_the_key_is_not(header, ok):
    assert authorisation_matches(header, "k3y") is ok

"""A query parameter the API refuses is a 400 naming the parameter, like any field error."""

import pytest


@pytest.mark.parametrize("path", ["tickets", "sites", "error-codes", "elements", "resolution-codes"])
def test_a_refused_search_is_named_by_its_parameter(engineer_client, path):
    response = engineer_client.get(f"/api/v1/{path}/", {"search": "cpri\x00down"})

    assert response.status_code == 400
    assert response.json() == {"search": ["Null characters are not allowed."]}

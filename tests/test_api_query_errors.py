"""A query parameter the API refuses is a 400 naming the parameter, like any field error."""

import pytest


@pytest.mark.parametrize("path", ["tickets", "sites", "error-codes", "elements", "resolution-codes"])
def test_a_refused_search_is_named_by_its_parameter(engineer_client, path):
    response = engineer_client.get(f"/api/v1/{path}/", {"search": "cpri\x00down"})

    assert response.status_code == 400
    assert response.json() == {"search": ["Null characters are not allowed."]}


def test_an_ordering_the_list_does_not_offer_is_refused_not_ignored(engineer_client):
    response = engineer_client.get("/api/v1/sites/", {"ordering": "region,name"})

    assert response.status_code == 400
    assert response.json() == {
        "ordering": ["'name' is not one of code, region, tier (a leading - for descending)"]
    }
    assert engineer_client.get("/api/v1/sites/", {"ordering": "-region,code"}).status_code == 200

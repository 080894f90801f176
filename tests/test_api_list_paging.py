"""Paging a list ordered by a field many rows share shows every row once."""

import pytest

from tests.factories import ErrorCodeFactory, NetworkElementFactory, SiteFactory


def _all_pages(client, url: str) -> list[int]:
    ids: list[int] = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        ids += [row["id"] for row in response.json()["results"]]
        url = response.json()["next"]
    return ids


@pytest.fixture
def catalogue(db):
    for n in range(120):
        site = SiteFactory(region=("north", "south")[n % 2], tier=("cell-site", "hub")[n % 3 == 0])
        NetworkElementFactory(site=site, vendor=("nordlink", "vantel")[n % 2])
        ErrorCodeFactory(domain=("ran", "power", "transport")[n % 3])


@pytest.mark.parametrize(
    "path",
    [
        "sites/?ordering=region",
        "sites/?ordering=-tier",
        "error-codes/?ordering=domain",
        "error-codes/?ordering=-severity",
        "elements/?ordering=installed_on",
    ],
)
def test_it_lists_each_row_once_across_pages_of_tied_rows(catalogue, engineer_client, path):
    ids = _all_pages(engineer_client, f"/api/v1/{path}&page_size=7")

    assert len(ids) == 120
    assert len(set(ids)) == 120, "some rows came twice and others never"

"""import_catalogue: idempotent upserts by natural key, in dependency order, with per-row rejects."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from repair_center.ingestion.catalogue import import_catalogue_dir
from repair_center.models import ErrorCode, ErrorCodeAlias, NetworkElement, ResolutionCode, Site

FILES = {
    "sites.csv": (
        "code,name,region,climate,tier,latitude,longitude\n"
        "CS-1,Coast one,west,coastal,cell-site,52.1,4.3\n"
        "HUB-1,Hub,west,urban,hub,,\n"
        "CS-X,Swamp,west,swamp,cell-site,,\n"
        "CS-Y,Far,west,cold,cell-site,95,0\n"
    ),
    "elements.csv": (
        "serial,site,name,kind,vendor,model,software_version,installed_on\n"
        "SN-1,CS-1,ru1,radio-unit,nordlink,X1,R21,2024-01-02\n"
        "SN-2,NOWHERE,ru2,radio-unit,nordlink,X1,R21,\n"
        "SN-3,CS-1,ru3,toaster,nordlink,X1,R21,\n"
    ),
    "error_codes.csv": (
        "code,domain,severity,description,recommended_checks\n"
        "SFP_RX_LOW,transport,major,Rx power low,Clean the fibre\n"
    ),
    "error_code_aliases.csv": (
        "vendor,raw_code,code\nnordlink,NL-7001,SFP_RX_LOW\nnordlink,NL-9999,NO_SUCH_CODE\n"
    ),
    "resolutions.csv": (
        "code,title,steps,needs_site_visit,typical_duration_minutes\n"
        'REPLACE_SFP,Replace the SFP,"Check rx power\nSwap the SFP\n",true,90\n'
        "MAYBE,Maybe,,perhaps,\n"
    ),
}


def _write(folder, files=FILES):
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_it_loads_every_file_in_order_and_rejects_bad_rows_with_reasons(db, tmp_path):
    reports = import_catalogue_dir(_write(tmp_path))
    assert list(reports) == list(FILES)
    assert {name: r.counts()["created"] for name, r in reports.items()} == {
        "sites.csv": 2,
        "elements.csv": 1,
        "error_codes.csv": 1,
        "error_code_aliases.csv": 1,
        "resolutions.csv": 1,
    }
    reasons = {name: [(e["row"], e["errors"]) for e in r.rejects] for name, r in reports.items()}
    assert reasons["sites.csv"][0][0] == 4 and "climate" in reasons["sites.csv"][0][1]
    assert reasons["sites.csv"][1][0] == 5 and "latitude" in reasons["sites.csv"][1][1]
    elements = dict(reasons["elements.csv"])
    assert elements[3] == {"site": ["unknown site code 'NOWHERE'; add it to sites.csv"]}
    assert "'toaster' is not one of" in elements[4]["kind"][0]
    assert "unknown error code 'NO_SUCH_CODE'" in reasons["error_code_aliases.csv"][0][1]["error_code"][0]
    assert "needs_site_visit" in reasons["resolutions.csv"][0][1]

    element = NetworkElement.objects.select_related("site").get()
    assert (element.site.code, str(element.installed_on)) == ("CS-1", "2024-01-02")
    assert ErrorCodeAlias.objects.get().error_code.code == "SFP_RX_LOW"
    fix = ResolutionCode.objects.get()
    assert (fix.step_list, fix.needs_site_visit, fix.typical_duration_minutes) == (
        ["Check rx power", "Swap the SFP"],
        True,
        90,
    )


def test_a_second_run_changes_nothing_and_an_edit_updates_by_natural_key(db, tmp_path):
    _write(tmp_path)
    import_catalogue_dir(tmp_path)
    again = import_catalogue_dir(tmp_path)
    assert all(r.created == 0 and r.updated == 0 for r in again.values())
    assert again["sites.csv"].unchanged == 2

    (tmp_path / "error_codes.csv").write_text(
        "code,domain,severity,description,recommended_checks\nSFP_RX_LOW,transport,critical,Rx power low,\n"
    )
    assert import_catalogue_dir(tmp_path)["error_codes.csv"].counts()["updated"] == 1
    assert ErrorCode.objects.get().severity == "critical"


def test_loading_a_site_created_by_an_import_clears_its_curation_flag(db, tmp_path):
    Site.objects.create(code="CS-1", name="CS-1", needs_curation=True)
    report = import_catalogue_dir(_write(tmp_path, {"sites.csv": FILES["sites.csv"]}))["sites.csv"]
    assert report.updated == 1
    site = Site.objects.get(code="CS-1")
    assert (site.name, site.needs_curation) == ("Coast one", False)


def test_a_file_missing_its_key_column_stops_the_import_before_anything_is_written(db, tmp_path):
    _write(tmp_path, {"sites.csv": FILES["sites.csv"], "resolutions.csv": "title,steps\nx,y\n"})
    with pytest.raises(CommandError, match=r"resolutions\.csv: the header lacks code"):
        call_command("import_catalogue", str(tmp_path), stdout=StringIO(), stderr=StringIO())
    assert Site.objects.count() == 0


def test_the_command_prints_one_summary_per_file(db, tmp_path):
    out = StringIO()
    call_command("import_catalogue", str(_write(tmp_path)), stdout=out, stderr=StringIO())
    assert "sites.csv: created 2, updated 0, unchanged 0, rejected 2" in out.getvalue()
    assert "resolutions.csv: created 1, updated 0, unchanged 0, rejected 1" in out.getvalue()


def test_a_folder_without_catalogue_files_is_an_error(db, tmp_path):
    with pytest.raises(CommandError, match=r"none of sites\.csv"):
        call_command("import_catalogue", str(tmp_path), stdout=StringIO(), stderr=StringIO())


def test_sites_carry_their_address_and_access_notes_and_a_file_without_them_keeps_them(db, tmp_path):
    with_access = (
        "code,name,region,climate,tier,latitude,longitude,address,access_notes\n"
        'CS-1,Coast one,west,coastal,cell-site,52.1,4.3,Havnegata 12,"Key safe at the gate, code 4471"\n'
    )
    import_catalogue_dir(_write(tmp_path, {"sites.csv": with_access}))
    site = Site.objects.get(code="CS-1")
    assert (site.address, site.access_notes) == ("Havnegata 12", "Key safe at the gate, code 4471")
    assert site.map_url == "https://www.openstreetmap.org/?mlat=52.10000&mlon=4.30000#map=16/52.10000/4.30000"

    report = import_catalogue_dir(_write(tmp_path, {"sites.csv": FILES["sites.csv"]}))["sites.csv"]

    assert report.unchanged == 1
    assert Site.objects.get(code="CS-1").access_notes == "Key safe at the gate, code 4471"


def test_a_reports_footer_is_not_loaded_as_a_site(db, tmp_path):
    # A site needs only its code, so "Total: 2 sites" under the last row would be one.
    sites = FILES["sites.csv"].splitlines()
    files = {"sites.csv": "\n".join([*sites[:3], "", "Total: 2 sites,,,,,,"]) + "\n"}
    report = import_catalogue_dir(_write(tmp_path, files))["sites.csv"]
    assert report.counts()["created"] == 2
    [refused] = report.rejects
    assert (refused["row"], refused["errors"]) == (
        5,
        {"non_field_errors": ["one value after the last record, a report's footer: 'Total: 2 sites'"]},
    )
    assert Site.objects.count() == 2

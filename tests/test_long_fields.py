"""Real exports' long fields. They label tickets with what their desk calls a fix, often a category
path longer than a short code: a resolution code may be up to 200 characters, wherever one is
stored or sent. Text too long for a short field is refused saying where it belongs."""

import csv
from io import StringIO

import pytest
from django.core.management import call_command

from ml.models import ModelVersion, Recommendation, ShadowDeployment, ShadowPrediction
from repair_center.documents import DocumentError, parse_ticket
from repair_center.models import RESOLUTION_CODE_LENGTH, ResolutionAlias, ResolutionCode, Ticket
from repair_center.services.history import Actor
from repair_center.services.resolution_merge import merge_resolutions

pytestmark = pytest.mark.django_db

PATH = "Hardware > Radio access > Remote radio unit > Replaced the RRU after a VSWR alarm that came back"
LONGEST = "R" * RESOLUTION_CODE_LENGTH


def _document(resolution: str) -> dict:
    return {"external_id": "T-1", "title": "vswr alarm", "status": "closed", "resolution": resolution}


def test_a_document_takes_a_resolution_up_to_200_characters_and_says_why_it_refuses_a_longer_one():
    assert len(PATH) > 64 and parse_ticket(_document(LONGEST), default_source="desk").resolution == LONGEST
    with pytest.raises(DocumentError) as refused:
        parse_ticket(_document(LONGEST + "R"), default_source="desk")
    assert refused.value.errors["resolution"] == ["must be at most 200 characters (got 201)"]


def test_an_export_labelled_with_category_paths_imports_them_as_codes(tmp_path):
    path = tmp_path / "desk.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "title", "status", "resolution"])
        writer.writerows([["T-1", "vswr alarm", "closed", PATH], ["T-2", "rru dark", "closed", LONGEST]])
    out = StringIO()

    call_command("import_tickets", str(path), "--source", "desk", "--create-missing", stdout=out)

    assert out.getvalue().splitlines()[0] == "created 2, updated 0, unchanged 0, rejected 0"
    assert dict(Ticket.objects.values_list("external_id", "resolution__code")) == {
        "T-1": PATH,
        "T-2": LONGEST,
    }


def test_what_models_said_keeps_a_long_code_whole():
    ResolutionCode.objects.create(code=PATH, title="Replace the RRU")
    ResolutionCode.objects.create(code=LONGEST, title="The same fix, spelled at length")
    merge_resolutions([LONGEST], into=PATH, actor=Actor("admin"))
    version = ModelVersion.objects.create(
        base_model="m",
        data_fingerprint="f",
        artifact_path="/nowhere",
        format_version=1,
        serialization_version=1,
    )
    ticket = Ticket.objects.create(source="desk", external_id="T-1", title="vswr")
    Recommendation.objects.create(
        ticket=ticket, ticket_revision=1, model_version=version, top_resolution=LONGEST
    )
    ShadowPrediction.objects.create(
        deployment=ShadowDeployment.objects.create(model_version=version),
        ticket=ticket,
        ticket_revision=1,
        candidate_resolution=LONGEST,
        candidate_confidence=0.5,
        champion_resolution=PATH,
    )

    assert ResolutionAlias.objects.get().alias == LONGEST
    assert Recommendation.objects.get().top_resolution == LONGEST
    assert ShadowPrediction.objects.get().candidate_resolution == LONGEST


def test_a_title_too_long_says_where_the_text_belongs():
    with pytest.raises(DocumentError) as refused:
        parse_ticket({"external_id": "T-1", "title": "w" * 501}, default_source="desk")
    assert refused.value.errors["title"] == [
        "must be at most 500 characters (got 501): a title is a summary; free text belongs in the "
        "description (import: --map description=COLUMN)"
    ]

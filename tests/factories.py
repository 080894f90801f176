"""factory-boy factories for the domain; tests build only what they assert on."""

import factory
from django.contrib.auth.models import Group, User

from ml.models import ModelVersion, Recommendation, TrainingRun
from repair_center.models import ErrorCode, ErrorCodeAlias, NetworkElement, ResolutionCode, Site


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"SITE-{n:04d}")
    name = factory.LazyAttribute(lambda o: f"Site {o.code}")
    region = "north"
    climate = "urban"


class NetworkElementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NetworkElement
        django_get_or_create = ("serial",)

    site = factory.SubFactory(SiteFactory)
    serial = factory.Sequence(lambda n: f"SN{n:06d}")
    kind = NetworkElement.Kind.RADIO_UNIT
    vendor = "nordlink"


class ErrorCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ErrorCode
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"ERR_{n:03d}")
    domain = ErrorCode.Domain.RAN
    description = factory.LazyAttribute(lambda o: f"Description of {o.code}")


class ErrorCodeAliasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ErrorCodeAlias
        django_get_or_create = ("vendor", "raw_code")

    vendor = "nordlink"
    raw_code = factory.Sequence(lambda n: f"NL-{n:04d}")
    error_code = factory.SubFactory(ErrorCodeFactory)


class ResolutionCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResolutionCode
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"FIX_{n:03d}")
    title = factory.LazyAttribute(lambda o: f"Fix {o.code}")
    steps = "Check the unit\nSwap it"


class RepairRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "repair_center.RepairRecord"
        django_get_or_create = ("rma_id",)

    rma_id = factory.Sequence(lambda n: f"RMA-{n:06d}")
    unit_kind = "radio-unit"
    unit_serial = factory.Sequence(lambda n: f"SN-RMA-{n:05d}")
    finding = "no_fault_found"


# --- A small labelled corpus for the ML tests: each fix has its own code, event and wording ---


class UserFactory(factory.django.DjangoModelFactory):
    """A user in TicketAI roles: ``UserFactory(username="eng", roles=["engineer"])``.

    The password is ``pw-<username>``; ``is_superuser=True`` makes a staff superuser.
    """

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user-{n}")
    is_superuser = False
    is_staff = factory.SelfAttribute("is_superuser")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.objects.create_user(*args, password=f"pw-{kwargs['username']}", **kwargs)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for name in extracted or ():
            # get_or_create: transactional tests flush the groups the roles migration made.
            self.groups.add(Group.objects.get_or_create(name=name)[0])


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A registered version with no files behind it: enough for pages, queues and bookkeeping."""

    class Meta:
        model = ModelVersion

    base_model = "test"
    data_fingerprint = "f" * 64
    artifact_path = "/nowhere"
    format_version = 1
    serialization_version = 1


class TrainingRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingRun


class RecommendationFactory(factory.django.DjangoModelFactory):
    """A stored answer for a ticket's revision (by default the ticket's current one)."""

    class Meta:
        model = Recommendation

    model_version = factory.SubFactory(ModelVersionFactory)
    ticket_revision = factory.LazyAttribute(lambda o: o.ticket.revision)


def ui_catalogue() -> None:
    """The catalogue the queue and ticket pages are tested against: a coastal and a cold site, a radio
    unit, a curated code, a vendor alias of another, and one resolution with steps."""
    SiteFactory(code="CS-COAST-001", name="Harbour mast", region="west", climate="coastal")
    SiteFactory(code="CS-HILL-002", name="Hill top", region="east", climate="cold")
    NetworkElementFactory(
        serial="NL-RU-000123",
        site__code="CS-COAST-001",
        kind="radio-unit",
        vendor="nordlink",
        model="RU-4419",
        software_version="R22.1",
    )
    ErrorCodeFactory(
        code="CPRI_LINK_DOWN",
        domain="transport",
        severity="critical",
        description="CPRI link between baseband and radio lost",
    )
    ErrorCodeAliasFactory(
        vendor="nordlink",
        raw_code="NL-7001",
        error_code__code="SFP_RX_LOW",
        error_code__domain="transport",
        error_code__severity="major",
        error_code__description="Optical receive power below threshold",
    )
    ResolutionCodeFactory(
        code="REPLACE_SFP",
        title="Replace the SFP",
        steps="Clean the fibre ends\nSwap the SFP\nCheck rx power",
    )


ML_CLASSES = {
    "REPLACE_SFP": ("SFP_RX_LOW", "alarm_raised", "optical receive power low on the fibre link"),
    "ROLLBACK_SW": ("SW_CRASH", "software_upgrade", "baseband keeps restarting since the upgrade"),
    "RESET_RADIO": ("CPRI_LINK_DOWN", "alarm_raised", "radio unit lost its cpri link to the baseband"),
    "FIX_MAINS": ("MAINS_FAIL", "power", "site running on batteries after a mains failure"),
}


def ml_catalogue() -> None:
    """Sites, element, codes and fixes the labelled corpus refers to."""
    NetworkElementFactory(serial="SN-ML-1", site__code="SITE-ML", vendor="nordlink")
    for resolution, (code, _, _) in ML_CLASSES.items():
        ErrorCodeFactory(code=code)
        ResolutionCodeFactory(code=resolution)


def ml_ticket_documents(per_class: int = 10, *, prefix: str = "ML", classes=None) -> list[dict]:
    """Labelled canonical ticket documents, interleaved in time (one hour apart)."""
    from datetime import UTC, datetime, timedelta

    classes = list(classes or ML_CLASSES)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    documents = []
    for i in range(per_class):
        for k, resolution in enumerate(classes):
            code, kind, text = ML_CLASSES[resolution]
            opened = start + timedelta(hours=i * len(classes) + k)
            documents.append(
                {
                    "external_id": f"{prefix}-{resolution}-{i:03d}",
                    "title": f"{text} (case {i})",
                    "description": f"noc report {i}: {text}",
                    "status": "closed",
                    "opened_at": opened.isoformat(),
                    "resolved_at": (opened + timedelta(hours=2)).isoformat(),
                    "site": "SITE-ML",
                    "element": "SN-ML-1",
                    "error_codes": [code],
                    "events": [
                        {"at": (opened - timedelta(minutes=5)).isoformat(), "kind": kind, "code": code},
                        {"at": opened.isoformat(), "kind": "alarm_raised", "code": code},
                    ],
                    "resolution": resolution,
                }
            )
    return documents


def tiny_encoder_dir(path, *, hidden_size: int = 64, layers: int = 2):
    """A small random BERT with the bundled tokenizer: a base model that fine-tunes in seconds."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from ml.training.fine_tuning import bundled_base_model

    config = BertConfig(
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden_size // 32),
        intermediate_size=4 * hidden_size,
    )
    BertModel(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(bundled_base_model(), local_files_only=True).save_pretrained(path)
    return path


def ml_open_ticket_documents(count: int, *, prefix: str = "OPEN") -> list[dict]:
    """Tickets still open (no resolution): unlabelled input for distillation."""
    labelled = ml_ticket_documents(per_class=count // len(ML_CLASSES) + 1, prefix=prefix)[:count]
    return [
        {**doc, "external_id": f"{prefix}-{i:03d}", "status": "open", "resolution": None, "resolved_at": None}
        for i, doc in enumerate(labelled)
    ]

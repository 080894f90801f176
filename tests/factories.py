"""factory-boy factories for the domain; tests build only what they assert on."""

import factory

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

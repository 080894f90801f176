from django.db import models


class Site(models.Model):
    class Tier(models.TextChoices):
        CELL_SITE = "cell-site", "Cell site"
        HUB = "hub", "Hub"
        REGIONAL_DC = "regional-dc", "Regional data centre"
        CENTRAL = "central", "Central"

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    region = models.CharField(max_length=100, blank=True, db_index=True)
    climate = models.CharField(max_length=32, blank=True, help_text="coastal, hot, cold, urban, ...")
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.CELL_SITE)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    address = models.CharField(max_length=300, blank=True, help_text="Street address or directions.")
    access_notes = models.TextField(
        blank=True, help_text="What a field engineer needs to get in: keys, gate codes, escorts, hours."
    )
    needs_curation = models.BooleanField(
        default=False, help_text="Created by an import with --create-missing; check its details."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def map_url(self) -> str:
        """An OpenStreetMap link to the site's coordinates; empty without them."""
        if self.latitude is None or self.longitude is None:
            return ""
        lat, lon = f"{self.latitude:.5f}", f"{self.longitude:.5f}"
        return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=16/{lat}/{lon}"


class NetworkElement(models.Model):
    class Kind(models.TextChoices):
        BASEBAND = "baseband", "Baseband unit"
        RADIO_UNIT = "radio-unit", "Radio unit"
        SFP = "sfp", "SFP transceiver"
        PSU = "psu", "Power supply"
        BATTERY = "battery", "Battery"
        MICROWAVE = "microwave", "Microwave radio"
        GNSS = "gnss", "GNSS receiver"
        ANTENNA = "antenna", "Antenna / feeder"
        ROUTER = "router", "Transport router"
        FAN = "fan", "Fan unit"
        OTHER = "other", "Other"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="elements")
    name = models.CharField(max_length=120, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OTHER)
    vendor = models.CharField(max_length=64, blank=True, db_index=True)
    model = models.CharField(max_length=120, blank=True)
    serial = models.CharField(max_length=120, unique=True)
    software_version = models.CharField(max_length=64, blank=True)
    installed_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["site__code", "serial"]

    def __str__(self) -> str:
        return f"{self.serial} ({self.get_kind_display()})"

"""The curated catalogue: error codes with each vendor's raw alarm id, and the resolutions (fixes)."""

DRIFT_CODE = "CELL_SETUP_TIMEOUT"
DRIFT_RESOLUTION = "APPLY_HOTFIX"

# code, domain, severity, description, recommended checks
ERROR_CODES = (
    (
        "CPRI_LINK_DOWN",
        "ran",
        "critical",
        "CPRI link between baseband and radio unit is down",
        "Check SFP receive power on both ends\nInspect and clean the fibre\nCheck radio unit alarms",
    ),
    (
        "CELL_UNAVAILABLE",
        "ran",
        "critical",
        "Cell is out of service",
        "Check power and battery alarms\nCheck baseband status\nCheck recent changes",
    ),
    (
        "CELL_DEGRADED",
        "ran",
        "minor",
        "Cell KPIs degraded (drops, accessibility)",
        "Compare with neighbour cells\nCheck VSWR and interference",
    ),
    (
        "RU_HW_FAILURE",
        "ran",
        "major",
        "Radio unit reports an internal hardware fault",
        "Check radio unit logs\nPlan a radio unit swap",
    ),
    ("RU_PA_FAULT", "ran", "major", "Radio unit power amplifier fault", "Check PA current and temperature"),
    (
        "RU_OVER_TEMPERATURE",
        "ran",
        "minor",
        "Radio unit temperature above threshold",
        "Check ambient temperature and airflow",
    ),
    (
        "VSWR_HIGH",
        "ran",
        "major",
        "Antenna VSWR above alarm threshold",
        "Sweep the feeder\nInspect connectors for water ingress",
    ),
    (
        "VSWR_WARNING",
        "ran",
        "warning",
        "Antenna VSWR above warning threshold",
        "Trend VSWR over the last weeks",
    ),
    (
        "SFP_RX_POWER_LOW",
        "ran",
        "minor",
        "SFP receive optical power low",
        "Measure optical power\nClean fibre",
    ),
    ("SFP_TX_FAULT", "ran", "major", "SFP transmitter fault", "Replace the SFP"),
    ("SFP_TEMP_HIGH", "ran", "warning", "SFP temperature high", "Check SFP and cabinet temperature"),
    ("UL_INTERFERENCE", "ran", "minor", "Uplink interference above threshold", "Run an interference scan"),
    (
        "S1_LINK_DOWN",
        "transport",
        "critical",
        "S1/NG link to the core is down",
        "Check transport path\nCheck IP configuration",
    ),
    ("MW_LINK_DOWN", "transport", "critical", "Microwave hop is down", "Check RSL history and weather"),
    (
        "MW_RSL_LOW",
        "transport",
        "minor",
        "Microwave received signal level low",
        "Compare RSL with planned level",
    ),
    ("MW_ODU_FAULT", "transport", "major", "Microwave outdoor unit hardware fault", "Replace the ODU"),
    (
        "TRANSPORT_LOS",
        "transport",
        "critical",
        "Loss of signal on the leased transport line",
        "Check other sites on the same line\nOpen a case with the provider",
    ),
    ("ETH_PORT_DOWN", "transport", "major", "Ethernet port down", "Check cabling and SFP"),
    (
        "PACKET_LOSS_HIGH",
        "transport",
        "minor",
        "Packet loss on backhaul above threshold",
        "Check transport KPIs",
    ),
    ("MAINS_FAILURE", "power", "major", "AC mains supply lost", "Check utility outage map"),
    (
        "BATTERY_LOW",
        "power",
        "critical",
        "Battery voltage low, site on reserve",
        "Estimate remaining autonomy\nConsider a generator",
    ),
    (
        "BATTERY_TEST_FAIL",
        "power",
        "minor",
        "Periodic battery discharge test failed",
        "Plan battery replacement",
    ),
    ("PSU_FAIL", "power", "major", "Power supply unit failed", "Check PSU LEDs\nReplace the PSU"),
    ("RECTIFIER_FAULT", "power", "major", "Rectifier module fault", "Check rectifier modules"),
    ("DC_VOLTAGE_LOW", "power", "major", "DC bus voltage low", "Check rectifiers and batteries"),
    ("GENERATOR_RUNNING", "power", "warning", "Site generator running", "Check fuel level"),
    (
        "HIGH_TEMPERATURE",
        "environment",
        "major",
        "Cabinet temperature high",
        "Check fans and cooling\nCheck ambient temperature",
    ),
    ("FAN_FAIL", "environment", "major", "Fan unit failed", "Replace the fan unit"),
    ("FAN_SPEED_LOW", "environment", "minor", "Fan speed below nominal", "Check fan unit"),
    ("AIRCON_FAULT", "environment", "major", "Air conditioning fault", "Service the cooling unit"),
    ("DOOR_OPEN", "environment", "warning", "Cabinet door open", "Check for a site visit"),
    ("HUMIDITY_HIGH", "environment", "warning", "Cabinet humidity high", "Check seals"),
    ("SMOKE_DETECTED", "environment", "critical", "Smoke detector triggered", "Call the fire service"),
    (
        "WATER_INGRESS",
        "environment",
        "major",
        "Water detected in connector or cabinet",
        "Inspect connectors and seals",
    ),
    (
        "GNSS_SIGNAL_LOW",
        "sync",
        "minor",
        "GNSS satellites tracked below threshold",
        "Check GNSS antenna for snow, ice or damage",
    ),
    ("GNSS_LOSS", "sync", "major", "GNSS reference lost", "Check GNSS antenna and cable"),
    (
        "SYNC_HOLDOVER",
        "sync",
        "major",
        "Clock in holdover, no valid reference",
        "Check GNSS and PTP references",
    ),
    ("PTP_LOCK_LOST", "sync", "major", "PTP lock to grandmaster lost", "Check transport delay variation"),
    ("CLOCK_DRIFT", "sync", "minor", "Clock frequency drift above threshold", "Check references"),
    ("BB_RESTART", "software", "major", "Baseband restarted", "Check crash dumps"),
    ("BB_WATCHDOG_RESET", "software", "major", "Baseband watchdog reset", "Collect logs for vendor"),
    ("BB_PROCESS_CRASH", "software", "major", "Baseband process crashed", "Collect crash dump"),
    ("MEMORY_HIGH", "software", "warning", "Baseband memory utilisation high", "Check for known leaks"),
    ("LICENSE_EXPIRY_WARNING", "software", "warning", "Feature licence expires soon", "Renew the licence"),
    ("LICENSE_EXPIRED", "software", "critical", "Feature licence expired", "Install the renewed licence"),
    (
        "CONFIG_MISMATCH",
        "software",
        "major",
        "Configuration inconsistent with neighbour or core",
        "Compare against the golden configuration",
    ),
    ("SW_UPGRADE_FAILED", "software", "major", "Software upgrade failed", "Check upgrade logs"),
)
DRIFT_ERROR_CODE = (
    DRIFT_CODE,
    "software",
    "critical",
    "Cell setup timed out after start-up (new in the latest release)",
    "Check the release notes of the running software\nApply the vendor hotfix",
)

# code, title, steps, needs_site_visit, typical_duration_minutes, replaced unit kind (or "")
RESOLUTIONS = (
    (
        "REPLACE_RU",
        "Replace radio unit",
        "Confirm RU hardware alarm\nSwap the radio unit\nReturn unit to repair centre",
        True,
        240,
        "radio-unit",
    ),
    (
        "CLEAN_FIBRE",
        "Clean or re-terminate fibre",
        "Inspect fibre ends\nClean both ends\nVerify receive power",
        True,
        120,
        "",
    ),
    (
        "REPLACE_SFP",
        "Replace SFP transceiver",
        "Measure optical power\nSwap the SFP\nReturn SFP to repair centre",
        True,
        90,
        "sfp",
    ),
    (
        "RESEAT_CPRI",
        "Reseat CPRI connector",
        "Reseat the CPRI connector at both ends\nCheck the link is stable",
        True,
        60,
        "",
    ),
    (
        "REBOOT_BASEBAND",
        "Reboot baseband",
        "Collect crash logs\nRemote reboot of the baseband",
        False,
        20,
        "",
    ),
    (
        "ROLLBACK_SW",
        "Roll back software",
        "Confirm the upgrade time\nRoll back to the previous release",
        False,
        60,
        "",
    ),
    (
        "APPLY_PATCH",
        "Apply software patch",
        "Check the running release\nApply the vendor patch",
        False,
        45,
        "",
    ),
    ("RENEW_LICENCE", "Renew licence", "Order the licence\nInstall the licence file", False, 30, ""),
    (
        "FIX_CONFIG",
        "Fix configuration",
        "Diff against the golden configuration\nRevert the bad parameter",
        False,
        30,
        "",
    ),
    (
        "REALIGN_MW",
        "Realign microwave antenna",
        "Measure RSL\nRealign the dish to planned RSL",
        True,
        180,
        "",
    ),
    (
        "NO_ACTION_RAIN_FADE",
        "No action: rain fade",
        "Confirm heavy rain on the hop\nWait for the link to recover",
        False,
        30,
        "",
    ),
    (
        "DISPATCH_GENERATOR",
        "Dispatch generator",
        "Check utility restoration estimate\nSend a mobile generator",
        True,
        300,
        "",
    ),
    (
        "WAIT_UTILITY_POWER",
        "Wait for utility power",
        "Check the utility outage map\nMonitor battery autonomy",
        False,
        90,
        "",
    ),
    ("REPLACE_PSU", "Replace power supply unit", "Check PSU LEDs\nSwap the PSU", True, 120, "psu"),
    ("REPLACE_FAN", "Replace fan unit", "Check fan speed\nSwap the fan unit", True, 90, "fan"),
    (
        "REPLACE_BATTERY",
        "Replace battery string",
        "Run a discharge test\nReplace the battery string",
        True,
        240,
        "battery",
    ),
    (
        "REPLACE_GNSS_ANTENNA",
        "Replace GNSS antenna",
        "Check satellites tracked\nReplace GNSS antenna and check the cable",
        True,
        150,
        "gnss",
    ),
    (
        "REPAIR_FEEDER",
        "Repair antenna feeder",
        "Sweep the line\nReplace corroded connector or jumper\nWeatherproof",
        True,
        240,
        "",
    ),
    (
        "ESCALATE_TRANSPORT",
        "Escalate to transport provider",
        "Confirm other sites on the line\nOpen a provider case",
        False,
        240,
        "",
    ),
    ("NO_FAULT_FOUND", "No fault found", "Confirm the alarm cleared\nClose the ticket", False, 15, ""),
    (
        "SERVICE_COOLING",
        "Service cooling (filters, aircon)",
        "Clean filters\nService the air conditioning",
        True,
        120,
        "",
    ),
    (
        "REPLACE_MW_ODU",
        "Replace microwave ODU",
        "Confirm ODU fault\nSwap the outdoor unit",
        True,
        240,
        "microwave",
    ),
    (
        "REPLACE_BASEBAND",
        "Replace baseband unit",
        "Collect logs\nSwap the baseband\nRestore configuration",
        True,
        300,
        "baseband",
    ),
)
DRIFT_RESOLUTION_ROW = (
    DRIFT_RESOLUTION,
    "Apply hotfix for the latest release",
    "Confirm the site runs the latest release\nApply the vendor hotfix\nCheck cells come up",
    False,
    40,
    "",
)


def error_codes(*, drift: bool) -> tuple[tuple, ...]:
    return ERROR_CODES + ((DRIFT_ERROR_CODE,) if drift else ())


def resolutions(*, drift: bool) -> tuple[tuple, ...]:
    return RESOLUTIONS + ((DRIFT_RESOLUTION_ROW,) if drift else ())


def aliases(*, drift: bool) -> dict[tuple[str, str], str]:
    """(vendor, curated code) -> raw vendor alarm id. The two vendors number alarms differently."""
    out = {}
    for i, row in enumerate(error_codes(drift=drift)):
        code = row[0]
        out[("nordlink", code)] = f"NL-{1000 + 97 * i:04d}"
        out[("veltra", code)] = f"VLT-{0x4A00 + 13 * i:04X}"
    return out


UNIT_BY_RESOLUTION = {row[0]: row[5] for row in (*RESOLUTIONS, DRIFT_RESOLUTION_ROW)}
RESOLUTION_MINUTES = {row[0]: row[4] for row in (*RESOLUTIONS, DRIFT_RESOLUTION_ROW)}
SITE_VISIT = {row[0]: row[3] for row in (*RESOLUTIONS, DRIFT_RESOLUTION_ROW)}

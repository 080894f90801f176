from django.apps import AppConfig


class RepairCenterConfig(AppConfig):
    name = "repair_center"
    verbose_name = "Repair centre"

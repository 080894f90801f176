from django.contrib.admin.apps import AdminConfig


class TicketAIAdminConfig(AdminConfig):
    """django.contrib.admin with our site class (throttled sign-in); replaces it in INSTALLED_APPS."""

    default_site = "ticketai.admin_site.TicketAIAdminSite"

from django import forms

from frontend.selectors import DEFAULT_SORT, SORTS, QueueFilters
from repair_center.models import Ticket


class QueueFilterForm(forms.Form):
    """The queue's filters, read from the query string; an invalid field is dropped, not fatal."""

    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Ticket.Status.choices]
    )
    priority = forms.ChoiceField(
        label="Priority", required=False, choices=[("", "Any priority"), *Ticket.Priority.choices]
    )
    site = forms.CharField(label="Site code", required=False, max_length=64)
    region = forms.ChoiceField(label="Region", required=False)
    error_code = forms.CharField(label="Error code", required=False, max_length=64)
    needs_expert = forms.BooleanField(label="Only tickets that need an expert", required=False)
    sort = forms.ChoiceField(
        label="Sort", required=False, choices=[(key, label) for key, (label, _) in SORTS.items()]
    )

    def __init__(self, *args, regions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "Any region"), *((r, r) for r in regions)]
        self.fields["q"].widget.attrs.update(type="search", placeholder="Title, description or ticket id")
        self.fields["site"].widget.attrs.update(placeholder="CS-COAST-001", autocapitalize="characters")
        self.fields["error_code"].widget.attrs.update(placeholder="e.g. NL-7001", autocapitalize="characters")

    def filters(self) -> QueueFilters:
        self.is_valid()
        data = {name: str(self.cleaned_data.get(name) or "").strip() for name in self.fields}
        data["needs_expert"] = "1" if self.cleaned_data.get("needs_expert") else ""
        data["sort"] = data["sort"] or DEFAULT_SORT
        return QueueFilters(**data)

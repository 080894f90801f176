from django import forms

from frontend.queue import DEFAULT_VIEW, OPEN, SORTS, VIEWS, QueueFilters
from repair_center.models import Ticket, WorkNote


class QueueFilterForm(forms.Form):
    """The queue's view and filters, read from the query string; an invalid field is dropped, not fatal."""

    view = forms.ChoiceField(required=False, choices=[(key, v.label) for key, v in VIEWS.items()])
    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[
            ("", "Any status"),
            (OPEN, "Open (not resolved, closed or cancelled)"),
            *Ticket.Status.choices,
        ],
    )
    priority = forms.ChoiceField(
        label="Priority", required=False, choices=[("", "Any priority"), *Ticket.Priority.choices]
    )
    site = forms.CharField(label="Site code", required=False, max_length=64)
    region = forms.ChoiceField(label="Region", required=False)
    error_code = forms.CharField(label="Error code", required=False, max_length=64)
    sort = forms.ChoiceField(
        label="Sort",
        required=False,
        choices=[("", "The view's order"), *((key, label) for key, (label, _) in SORTS.items())],
    )

    def __init__(self, *args, regions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["view"].widget = forms.HiddenInput()
        self.fields["region"].choices = [("", "Any region"), *((r, r) for r in regions)]
        self.fields["q"].widget.attrs.update(
            type="search", placeholder="Words, e.g. fibre cut, or a ticket id"
        )
        self.fields["site"].widget.attrs.update(
            placeholder="Start of a code: CS-COAST", autocapitalize="characters"
        )
        self.fields["error_code"].widget.attrs.update(placeholder="e.g. NL-7001", autocapitalize="characters")

    def filters(self) -> QueueFilters:
        self.is_valid()
        data = {name: str(self.cleaned_data.get(name) or "").strip() for name in self.fields}
        # An old bookmark's "needs_expert" checkbox is the view of that name now.
        if self.data.get("needs_expert") and not data["view"]:
            data["view"] = "needs_expert"
        data["view"] = data["view"] or DEFAULT_VIEW
        return QueueFilters(**data)


class NoteForm(forms.Form):
    text = forms.CharField(label="Work note", max_length=20_000, widget=forms.Textarea(attrs={"rows": 3}))
    visibility = forms.ChoiceField(
        label="Who sees it", choices=WorkNote.Visibility.choices, initial=WorkNote.Visibility.INTERNAL
    )

"""The API's ``?ordering=``: DRF's OrderingFilter with the primary key as the last term.

Ordered by a field many rows share (sites by region, elements by installed_on), PostgreSQL may
return the tied rows in another order for each page's LIMIT/OFFSET, so paging repeated some rows
and never showed others. With the id last, every page cuts the same order.

A field the list cannot be ordered by is a 400, as it is for the ticket list: DRF's dropped it, so
``?ordering=name`` answered in the default order, as if it had been applied."""

from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter


class StableOrderingFilter(OrderingFilter):
    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering or any(str(term).lstrip("-") in ("pk", "id") for term in ordering):
            return ordering
        return [*ordering, "pk"]

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        if refused := [term for term in fields if term not in valid]:
            names = [name for name, _ in self.get_valid_fields(queryset, view, {"request": request})]
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"{refused[0][:80]!r} is not one of {', '.join(names)} (a leading - for descending)"
                    ]
                }
            )
        return valid

"""The API's ``?ordering=``: DRF's OrderingFilter with the primary key as the last term.

Ordered by a field many rows share (sites by region, elements by installed_on), PostgreSQL may
return the tied rows in another order for each page's LIMIT/OFFSET, so paging repeated some rows
and never showed others. With the id last, every page cuts the same order."""

from rest_framework.filters import OrderingFilter


class StableOrderingFilter(OrderingFilter):
    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering or any(str(term).lstrip("-") in ("pk", "id") for term in ordering):
            return ordering
        return [*ordering, "pk"]

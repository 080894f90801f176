"""A paginator whose count stops early, so a page costs the same with 1,000 or 1,000,000 tickets."""

from functools import cached_property

from django.core.paginator import Paginator

# Past any table's size, and inside the signed 64-bit LIMIT that PostgreSQL and SQLite accept.
MAX_LIMIT = 2**62


class CappedCountPaginator(Paginator):
    """Counts matching rows only up to ``cap``, or to the end of the requested page when that is deeper.

    An exact COUNT(*) must visit every match, which for a broad filter over 100,000 tickets costs
    more than the rest of the page; a query with a LIMIT stops as soon as it has enough. ``exact``
    says whether ``count`` is the total; when it is not, there are more than ``limit`` rows and at
    least one page beyond those counted, so "next" still works. The count leaves out the ordering:
    unordered, the database may answer it with hash joins, while the page itself reads ordered rows
    only until it has one page."""

    def __init__(self, object_list, per_page, *, cap: int, page_number=None):
        super().__init__(object_list, per_page)
        self.limit = min(max(cap, self._requested(page_number) * self.per_page), MAX_LIMIT)

    @staticmethod
    def _requested(number) -> int:
        try:
            return max(int(number), 1)
        except (TypeError, ValueError):
            return 1  # get_page() shows the first page for anything that is not a number

    @cached_property
    def count(self) -> int:
        # Ordering cannot change a count, and with a LIMIT the database would otherwise sort first.
        return self.object_list.order_by()[: self.limit + 1].count()

    @property
    def exact(self) -> bool:
        return self.count <= self.limit

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        # A whole page's LIMIT even where fewer rows are left: Django's LIMIT of just the remaining
        # rows (1 for a lone match) tempts the planner to walk the ordered index hoping for an early
        # match, which reads every ticket when the match is old (measured: 360 ms instead of 2 ms).
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)

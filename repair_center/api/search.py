"""The API's ``?search=``: DRF's SearchFilter, its refusals named by the parameter.

DRF's answered a search it refuses (a NUL byte) with a bare list, ``["Null characters are not
allowed."]``, where every other bad query parameter answers ``{"<parameter>": [...]}``."""

from rest_framework import exceptions, filters


class SearchFilter(filters.SearchFilter):
    def get_search_terms(self, request):
        try:
            return super().get_search_terms(request)
        except exceptions.ValidationError as e:
            raise exceptions.ValidationError({self.search_param: e.detail}) from None

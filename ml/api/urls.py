"""ML routes under /api/v1/; each area keeps its views in its own module and adds its routes here."""

urlpatterns = []

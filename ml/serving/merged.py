"""A model answers in the codes it learnt. An admin may have merged two of them since
(repair_center.services.resolution_merge): the old code is now an alias of the code kept. Until the
model is retrained, what it gives the two labels is one fix's chance, so they are added up and
answered as the code kept, with one track record for both, rather than the same fix twice."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def kept_codes(labels: Sequence[str]) -> dict[str, str]:
    """The code kept, for each of ``labels`` that a merge has made an alias."""
    from repair_center.models import ResolutionAlias

    return dict(ResolutionAlias.objects.filter(alias__in=labels).values_list("alias", "resolution__code"))


def kept_code(field: str):
    """A query expression: the resolution code in ``field``, or the code kept where a merge has made
    it an alias. For comparing what a model said before a merge with the fix a ticket got after it."""
    from django.db.models import F, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    from repair_center.models import ResolutionAlias

    alias = ResolutionAlias.objects.filter(alias=OuterRef(field)).values("resolution__code")[:1]
    return Coalesce(Subquery(alias), F(field))


@dataclass(frozen=True, slots=True)
class Fixes:
    """The model's labels as the catalogue's fixes now: ``codes[f]`` is fix f, learnt under the labels
    ``members[f]`` (indices into the model's labels)."""

    codes: list[str]
    members: list[list[int]]
    of_label: np.ndarray  # the fix of each label

    @classmethod
    def of(cls, labels: Sequence[str], kept: dict[str, str]) -> "Fixes":
        index: dict[str, int] = {}
        members: list[list[int]] = []
        of_label = np.empty(len(labels), dtype=np.int64)
        for i, label in enumerate(labels):
            fix = index.setdefault(kept.get(label, label), len(index))
            if fix == len(members):
                members.append([])
            members[fix].append(i)
            of_label[i] = fix
        return cls(codes=list(index), members=members, of_label=of_label)

    def proba(self, proba: np.ndarray) -> np.ndarray:
        """[n, labels] probabilities as [n, fixes]: the sum over each fix's labels."""
        if len(self.codes) == proba.shape[1]:
            return proba
        out = np.zeros((proba.shape[0], len(self.codes)), dtype=proba.dtype)
        np.add.at(out.T, self.of_label, proba.T)
        return out

    def top_label(self, fix: int, proba_row: np.ndarray) -> int:
        """The label of ``fix`` the model gives the most: the one its evidence is measured for."""
        members = self.members[fix]
        return members[int(np.argmax(proba_row[members]))]


def of_predictor(labels: Sequence[str]) -> Fixes:
    return Fixes.of(labels, kept_codes(labels))

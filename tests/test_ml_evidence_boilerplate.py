"""What a ticket sent as an e-mail carries besides its problem (greetings, closings, the header words
and dates of quoted replies) is never a candidate for evidence: the words of the problem are."""

from ml.serving import evidence

# A ticket of the public IT-support export (benchmarks/data/real/it_tickets.csv), as it was written.
MAIL = (
    "re backup re backup hello please advised backup configuration changed weekly daily added production"
    " protection daily backup disk please log call assign queue backup update thank best regards senior"
    " engineer tuesday november pm re backup hi please backup done daily thanks dear guys kind regards"
    " importance high sent wednesday december"
)


def test_greetings_closings_and_the_dates_of_quoted_mails_are_never_candidates():
    words = {word.lower() for word in evidence._words({"description": MAIL}, 40)}

    assert not words & {"best", "kind", "dear", "guys", "tuesday", "november", "wednesday", "december"}
    assert not words & {"importance", "sent", "regards", "thanks", "hello", "please"}
    assert {"backup", "configuration", "production", "disk", "weekly"} <= words


def test_a_word_that_names_the_problem_stays_a_candidate_beside_the_mail_words():
    variants = evidence._variants({"title": "Dear team, mains failure since Monday", "description": ""})

    assert [item for kind, item, _ in variants if kind == "word"] == ["mains", "failure"]

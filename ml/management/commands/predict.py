import itertools
import json

from django.core.management.base import BaseCommand, CommandError

from ml.serving import inference
from repair_center.documents import DocumentError, parse_ticket
from repair_center.ingestion import readers
from repair_center.ingestion.files import read_ticket_rows
from repair_center.ingestion.options import add_reading_arguments, reading_mapping, reading_value_map

BATCH = 64


class Command(BaseCommand):
    help = (
        "Score a .csv, .xlsx, .json (an array, or an API dump holding one) or .jsonl file of canonical "
        "ticket documents with the champion "
        'model and write one JSON line per input row (an "error" line for a row that cannot be read).'
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--output", required=True, metavar="OUT.jsonl")
        add_reading_arguments(parser)
        parser.add_argument("--top-k", type=int, default=3)
        parser.add_argument(
            "--source",
            default="",
            help="The source system of the tickets: scored by the champion trained on it (train --source), "
            "else by the default champion; also the source of documents that name none.",
        )

    def handle(self, *args, **options):
        mapping = reading_mapping(options)
        value_map = reading_value_map(options)
        predictor = inference.load_for_source(options["source"] or None)
        if predictor is None:
            raise CommandError("no champion model yet: train one first (python manage.py train)")
        source = options["source"] or "file"
        try:
            tickets = read_ticket_rows(
                options["path"],
                mapping=mapping,
                date_format=options["date_format"],
                missing=options["missing"],
                encoding=options["encoding"],
                value_map=value_map,
            )
            first = next(tickets, None)
        except readers.FileUnreadable as e:
            raise CommandError(str(e)) from e
        counts = {"scored": 0, "errors": 0}
        with open(options["output"], "w", encoding="utf-8") as out:
            batch: list[tuple[int, dict]] = []
            for ticket in itertools.chain([first] if first else [], tickets):
                line = self._parse(ticket, source)
                if "error" in line:
                    self._flush(batch, predictor, out, options["top_k"], counts)
                    batch = []
                    out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
                    counts["errors"] += 1
                    continue
                batch.append((ticket.row, line["document"]))
                if len(batch) >= BATCH:
                    self._flush(batch, predictor, out, options["top_k"], counts)
                    batch = []
            self._flush(batch, predictor, out, options["top_k"], counts)
        self.stdout.write(
            f"{counts['scored']} scored, {counts['errors']} errors, model v{predictor.version_id} "
            f"({predictor.label_set_key}) -> {options['output']}"
        )

    @staticmethod
    def _parse(ticket, source: str) -> dict:
        """{"document": validated canonical JSON} or the error line of a ticket that cannot be read."""
        if ticket.error is not None:
            return {"row": ticket.row, "external_id": ticket.external_id, "error": ticket.error}
        try:
            return {"document": parse_ticket(ticket.document, default_source=source).to_json()}
        except DocumentError as e:
            return {"row": ticket.row, "external_id": ticket.external_id, "error": e.errors}

    @staticmethod
    def _flush(batch, predictor, out, top_k: int, counts: dict) -> None:
        # Rows are written in input order: an error row flushes the batch before it.
        results = inference.predict_batch([doc for _, doc in batch], predictor=predictor, top_k=top_k)
        for (number, document), result in zip(batch, results, strict=True):
            line = {"row": number, "external_id": document["external_id"], **result}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        counts["scored"] += len(batch)

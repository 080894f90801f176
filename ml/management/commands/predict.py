import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ml.serving import inference
from repair_center.documents import FIELDS, DocumentError, parse_ticket
from repair_center.ingestion import readers
from repair_center.ingestion.files import _check_mapped_columns, _csv_ticket_fields

BATCH = 64


class Command(BaseCommand):
    help = (
        "Score a .csv, .json (array) or .jsonl file of canonical ticket documents with the champion "
        'model and write one JSON line per input row (an "error" line for a row that cannot be read).'
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--output", required=True, metavar="OUT.jsonl")
        parser.add_argument(
            "--map", action="append", metavar="FIELD=COLUMN", help="Read FIELD from COLUMN (repeatable)."
        )
        parser.add_argument("--top-k", type=int, default=3)
        parser.add_argument(
            "--source",
            default="",
            help="The source system of the tickets: scored by the champion trained on it (train --source), "
            "else by the default champion; also the source of documents that name none.",
        )

    def handle(self, *args, **options):
        try:
            mapping = readers.parse_mapping(options["map"], FIELDS)
        except ValueError as e:
            raise CommandError(str(e)) from e
        predictor = inference.load_for_source(options["source"] or None)
        if predictor is None:
            raise CommandError("no champion model yet: train one first (python manage.py train)")
        source = options["source"] or "file"
        path = Path(options["path"])
        try:
            is_csv = readers.file_format(path) == "csv"
            _check_mapped_columns(path, mapping, is_csv)
            rows = readers.read_rows(path)
        except readers.FileUnreadable as e:
            raise CommandError(str(e)) from e
        counts = {"scored": 0, "errors": 0}
        with open(options["output"], "w", encoding="utf-8") as out:
            batch: list[tuple[int, dict]] = []
            for row in rows:
                line = self._parse(row, mapping, is_csv, path.name, source)
                if "error" in line:
                    self._flush(batch, predictor, out, options["top_k"], counts)
                    batch = []
                    out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
                    counts["errors"] += 1
                    continue
                batch.append((row.number, line["document"]))
                if len(batch) >= BATCH:
                    self._flush(batch, predictor, out, options["top_k"], counts)
                    batch = []
            self._flush(batch, predictor, out, options["top_k"], counts)
        self.stdout.write(
            f"{counts['scored']} scored, {counts['errors']} errors, model v{predictor.version_id} "
            f"({predictor.label_set_key}) -> {options['output']}"
        )

    @staticmethod
    def _parse(row: readers.Row, mapping: dict, is_csv: bool, name: str, source: str) -> dict:
        if row.data is None:
            return {"row": row.number, "external_id": None, "error": row.reason}
        data = readers.pick_fields(row.data, mapping, FIELDS, text=is_csv)
        errors = _csv_ticket_fields(data) if is_csv else {}
        external_id = data.get("external_id")
        if external_id is None or (isinstance(external_id, str) and not external_id.strip()):
            data["external_id"] = f"{name}:{row.number}"
        if errors:
            return {"row": row.number, "external_id": data.get("external_id"), "error": errors}
        try:
            return {"document": parse_ticket(data, default_source=source).to_json()}
        except DocumentError as e:
            return {"row": row.number, "external_id": data.get("external_id"), "error": e.errors}

    @staticmethod
    def _flush(batch, predictor, out, top_k: int, counts: dict) -> None:
        # Rows are written in input order: an error row flushes the batch before it.
        results = inference.predict_batch([doc for _, doc in batch], predictor=predictor, top_k=top_k)
        for (number, document), result in zip(batch, results, strict=True):
            line = {"row": number, "external_id": document["external_id"], **result}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        counts["scored"] += len(batch)

import json

from django.core.management.base import BaseCommand, CommandError

from ml.compression import pipeline
from ml.compression.distillation import DistillationConfig
from ml.core import registry
from ml.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Distil a teacher (default: the champion) into a small int8 ONNX student and register a signed "
        "edge bundle. Without --sync the work is queued on the `training` queue and the task id printed; "
        "with --sync it runs here and prints the bundle's metrics JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--teacher", type=int, default=None, metavar="VERSION_ID")
        parser.add_argument("--label-set", default="resolution", help="Whose champion, without --teacher.")
        parser.add_argument("--tier", default="", help="Intended site tier, e.g. cell-site (empty: any).")
        parser.add_argument("--layers", type=int, default=DistillationConfig().layers)
        parser.add_argument("--hidden-size", type=int, default=DistillationConfig().hidden_size)
        parser.add_argument(
            "--no-fallback",
            action="store_true",
            help="Serve this student even when it keeps less of the teacher's accuracy than the "
            "compression's floor (default: distil again at the fallback size).",
        )
        parser.add_argument("--epochs", type=int, default=DistillationConfig().epochs)
        parser.add_argument("--max-length", type=int, default=0, help="0: the teacher's.")
        parser.add_argument("--max-train-samples", type=int, default=None)
        parser.add_argument(
            "--augment",
            type=int,
            default=DistillationConfig().augment,
            help="Views of each labelled ticket with less known, taught by the teacher (0: none).",
        )
        parser.add_argument("--sparsity", type=float, default=0.0, help="Prune this share of weights.")
        parser.add_argument("--no-warm-start", action="store_true", help="Never start from the last student.")
        parser.add_argument("--sync", action="store_true", help="Run in this process.")

    def handle(self, *args, **options):
        if options["augment"] < 0:
            raise CommandError("--augment must be 0 or more")
        if options["teacher"] is not None:
            teacher = ModelVersion.objects.filter(pk=options["teacher"]).first()
            if teacher is None:
                raise CommandError(f"no model version {options['teacher']}")
        else:
            teacher = registry.champion(options["label_set"])
            if teacher is None:
                raise CommandError(f"no champion for {options['label_set']!r}; train one or give --teacher")
        if not 0.0 <= options["sparsity"] < 1.0:
            raise CommandError("--sparsity must be in [0, 1)")
        config = pipeline.CompressionConfig(
            distillation=DistillationConfig(
                layers=options["layers"],
                hidden_size=options["hidden_size"],
                epochs=options["epochs"],
                max_length=options["max_length"],
                max_train_samples=options["max_train_samples"],
                augment=options["augment"],
            ),
            sparsity=options["sparsity"],
            warm_start=not options["no_warm_start"],
            fallback=() if options["no_fallback"] else pipeline.FALLBACK,
        )
        if not options["sync"]:
            from ml.tasks import distil_model_task

            result = distil_model_task.delay(teacher.pk, options["tier"], config.to_json())
            self.stdout.write(result.id)
            return
        outcome = pipeline.compress_once(
            teacher_version_id=teacher.pk,
            intended_tier=options["tier"],
            config=config.to_json(),
            progress=self._progress,
        )
        if outcome["status"] != "succeeded":
            raise CommandError(json.dumps(outcome))
        self.stdout.write(json.dumps(outcome, indent=2))

    def _progress(self, p: dict) -> None:
        if p.get("phase") != "distilling" or p.get("step") == p.get("total_steps"):
            self.stderr.write(json.dumps(p))

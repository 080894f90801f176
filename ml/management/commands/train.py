import json

from django.core.management.base import BaseCommand, CommandError

from ml.models import TrainingRun
from ml.training import services
from ml.training.fine_tuning import BaseModelError, TrainingConfig
from ml.training.quality import CHECK_KEYS
from ticketai.broker import BrokerUnavailable, require_broker


class Command(BaseCommand):
    help = (
        "Train a resolution model on the labelled tickets. Without --sync the run is queued for a "
        "worker on the `training` queue and its id printed; with --sync it trains here and prints "
        "the metrics JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", action="append", default=[], help="Only tickets of this source (repeat)."
        )
        parser.add_argument("--base-model", default="", help="A local Hugging Face model directory.")
        parser.add_argument("--epochs", type=int, default=0, help="0: chosen from the data size.")
        parser.add_argument("--max-length", type=int, default=0, help="Tokens per ticket; 0: from the data.")
        parser.add_argument("--max-train-samples", type=int, default=None)
        parser.add_argument("--force", action="store_true", help="Train even if the data is unchanged.")
        parser.add_argument(
            "--allow",
            action="append",
            default=[],
            metavar="CHECK",
            choices=CHECK_KEYS,
            help="Train although this data-quality check fails (repeat); recorded on the run and kept by "
            f"scheduled retrains of the label set. One of: {', '.join(CHECK_KEYS)}.",
        )
        parser.add_argument("--sync", action="store_true", help="Train in this process with a progress bar.")

    def handle(self, *args, **options):
        for name in ("epochs", "max_length", "max_train_samples"):
            if options[name] is not None and options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative")
        config = TrainingConfig(
            base_model=options["base_model"],
            epochs=options["epochs"],
            max_length=options["max_length"],
            max_train_samples=options["max_train_samples"] or None,
        )
        request = dict(
            trigger=TrainingRun.Trigger.MANUAL,
            config=config,
            sources=options["source"],
            force=options["force"],
            allow=options["allow"],
            requested_by="manage.py train",
        )
        if not options["sync"]:
            # Before the run row exists: a run queued with no message behind it never starts, and
            # every automated retrain of its label set would be skipped behind it.
            try:
                require_broker()
            except BrokerUnavailable as e:
                raise CommandError(f"{e.detail} (or train here with --sync)") from e
            run = services.training_enqueue(**request)
            self.stdout.write(str(run.pk))
            return
        run = services.training_run_create(**request)
        try:
            run = self._train_with_bar(run)
        except BaseModelError as e:
            raise CommandError(str(e)) from e
        if run.status == TrainingRun.Status.FAILED:
            raise CommandError(f"training run #{run.pk} failed:\n{run.reason}")
        version = run.model_version
        quality = (run.quality_report or {}).get("text")
        if quality:  # rare and left-out classes, warnings: what the figures below do not show
            self.stderr.write(quality)
        self.stdout.write(
            json.dumps(
                {
                    "run": run.pk,
                    "status": run.status,
                    "reason": run.reason,
                    "model_version": version.pk if version else None,
                    "model_status": version.status if version else None,
                    "model_status_reason": version.status_reason if version else None,
                    "metrics": version.metrics if version else None,
                    "baselines": version.baselines if version else None,
                },
                indent=2,
            )
        )

    def _train_with_bar(self, run: TrainingRun) -> TrainingRun:
        from tqdm import tqdm

        bar = None

        def progress(p: dict) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=p["total_steps"], desc="training", unit="step", file=self.stderr._out)
            bar.set_postfix(epoch=f"{p['epoch']}/{p['epochs']}", loss=p["loss"], refresh=False)
            bar.update(p["step"] - bar.n)

        try:
            return services.train_model(run=run, progress=progress)
        finally:
            if bar is not None:
                bar.close()

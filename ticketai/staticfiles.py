from whitenoise.storage import CompressedManifestStaticFilesStorage


class ManifestOrPlainStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed names once collectstatic has run; plain names before it.

    A fresh checkout (tests, the first `make demo` step) has no manifest yet; WhiteNoise then
    serves the files from the app folders through its finders instead of failing every page.
    """

    manifest_strict = False

    def stored_name(self, name):
        try:
            return super().stored_name(name)
        except ValueError:
            return name

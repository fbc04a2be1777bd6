"""The dataset manifest (``data_manifest.yaml``): which datasets exist and where they are.

Nothing is downloaded: a dataset that is not present locally is reported with where to
obtain it and where to put it (``$LIBERATION_DATA/<local_dir>``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from liberation.errors import FileFormatError, InputError

DATA_ENV = "LIBERATION_DATA"


def data_dir() -> Path:
    """The local data folder: ``$LIBERATION_DATA`` or ``~/liberation-data``."""
    return Path(os.environ.get(DATA_ENV, Path.home() / "liberation-data")).expanduser()


def default_manifest_path() -> Path:
    """The manifest shipped beside the package (repository root), or inside it when installed."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "data_manifest.yaml", here / "data_manifest.yaml"):
        if candidate.exists():
            return candidate
    raise FileFormatError("data_manifest.yaml was not found beside the liberation package")


@dataclass(frozen=True)
class Dataset:
    """One manifest entry."""

    name: str
    kind: str
    title: str
    description: str = ""
    obtain: str = ""
    local_dir: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def local_path(self) -> Path | None:
        """Where the dataset is expected on this machine (None for synthetic data)."""
        return None if self.local_dir is None else data_dir() / self.local_dir

    @property
    def present(self) -> bool:
        """Synthetic datasets are always present; external ones when their folder exists."""
        return self.kind == "synthetic" or (self.local_path is not None and self.local_path.is_dir())

    def require(self) -> Path:
        """Return the local folder, or raise with where to get the data and where to put it."""
        if self.kind == "synthetic":
            raise InputError(f"dataset {self.name!r} is synthetic; make it with {self.extra.get('generator')}")
        if not self.present:
            raise FileFormatError(
                f"dataset {self.name!r} is not present at {self.local_path}. {self.obtain.strip()} "
                f"Put it in {self.local_path} (set ${DATA_ENV} to change the data folder)."
            )
        return self.local_path  # type: ignore[return-value]


def load_manifest(path: str | os.PathLike | None = None) -> list[Dataset]:
    """Read the dataset manifest (default: the one shipped with the library)."""
    import yaml

    path = Path(path) if path is not None else default_manifest_path()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FileFormatError(f"cannot read dataset manifest {path}: {exc}") from None
    entries = (doc or {}).get("datasets")
    if not isinstance(entries, list):
        raise FileFormatError(f"{path}: expected a top-level 'datasets' list")
    datasets = []
    known = {"name", "kind", "title", "description", "obtain", "local_dir"}
    for entry in entries:
        if "name" not in entry or "kind" not in entry:
            raise FileFormatError(f"{path}: dataset entry {entry!r} needs 'name' and 'kind'")
        datasets.append(
            Dataset(
                name=str(entry["name"]),
                kind=str(entry["kind"]),
                title=str(entry.get("title", "")),
                description=str(entry.get("description", "")).strip(),
                obtain=str(entry.get("obtain", "")).strip(),
                local_dir=entry.get("local_dir"),
                extra={k: v for k, v in entry.items() if k not in known},
            )
        )
    return datasets


def get_dataset(name: str, path: str | os.PathLike | None = None) -> Dataset:
    """The manifest entry called ``name``."""
    datasets = load_manifest(path)
    for ds in datasets:
        if ds.name == name:
            return ds
    raise InputError(f"dataset={name!r} is not in the manifest; known: {', '.join(d.name for d in datasets)}")

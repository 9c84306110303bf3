"""What :func:`asl_edge.export` returns: the export's paths and figures, typed, with a short repr."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from asl_edge.runtime.fmt import kilobytes, percent, plural
from asl_edge.runtime.integrity import MANIFEST


@dataclass(frozen=True)
class ExportedArtifact:
    """One artifact written and verified: its file, format (``tflite_int8``...), size and accuracy on
    the export's evaluation data (``ExportResult.evaluated_on``)."""

    path: Path
    format: str
    size_bytes: int
    accuracy: float

    def __repr__(self) -> str:
        return (f"ExportedArtifact('{self.path.name}', {self.format}, {kilobytes(self.size_bytes)}, "
                f"{percent(self.accuracy)})")


@dataclass(frozen=True)
class ExportResult:
    """A finished export: its folder and ``manifest.json``, the artifacts written (``artifacts``), those
    that failed (``failed``: ``(name, why)``), the trained model's accuracy and the data every
    accuracy was measured on. ``manifest`` holds the whole manifest, as written."""

    folder: Path
    manifest_path: Path
    artifacts: tuple[ExportedArtifact, ...]
    failed: tuple[tuple[str, str], ...]
    source_accuracy: float
    evaluated_on: str
    manifest: dict = field(repr=False, compare=False)

    @classmethod
    def from_manifest(cls, manifest: dict) -> ExportResult:
        folder = Path(manifest["out"])
        artifacts = tuple(ExportedArtifact(folder / a["path"], a["format"], int(a["size_bytes"]), float(a["accuracy"]))
                          for a in manifest["artifacts"])
        failed = tuple((a["path"], a["status"]) for a in manifest["failed"])
        return cls(folder, folder / MANIFEST, artifacts, failed, float(manifest["source"]["accuracy"]),
                   manifest["evaluation"]["data"], manifest)

    def path(self, fmt: str) -> Path:
        """The artifact of format ``fmt`` (``tflite_int8``, ``onnx_fp32``...).

        Raises:
            KeyError: none of that format was written (the message lists those that were).
        """
        for a in self.artifacts:
            if a.format == fmt:
                return a.path
        raise KeyError(f"no {fmt} artifact in {self.folder}; written: {', '.join(a.format for a in self.artifacts)}")

    def __repr__(self) -> str:
        failed = f", failed={[name for name, _ in self.failed]}" if self.failed else ""
        return (f"ExportResult(folder='{self.folder}', {plural(len(self.artifacts), 'artifact')} "
                f"({', '.join(a.format for a in self.artifacts)}){failed}, trained model "
                f"{percent(self.source_accuracy)} on {self.evaluated_on})")

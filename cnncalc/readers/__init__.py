"""Model files of other frameworks → the mapping a cnncalc YAML spec loads into.

``cnncalc FILE`` takes a native spec, a Darknet ``.cfg``, an Ultralytics model YAML, an ONNX model
or a Keras model (``to_json()`` text, gzipped or not, or a ``.keras`` archive). :func:`sniff`
tells them apart by their content (the extension only breaks ties). Each reader (one module per
format) turns its file into the same mapping that a YAML spec parses into (``name``,
``description``, ``input``, ``blocks``, ``layers``), keeping the source's layer names, and
:func:`cnncalc.spec.build` makes the model tree from it, so every other feature (the table, JSON,
checks, ``--explain``, ``--run``, diagrams) works unchanged. ``cnncalc convert`` writes that
mapping as YAML (:func:`to_yaml`).

Every read is bounded (docs/LIMITS.md): text formats by the spec limit; an ONNX file is mapped,
not read, and only its graph (without the weights) is parsed; a ``.keras`` archive's config.json
is read up to the spec limit.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CnnCalcError
from ..limits import MAX_SPEC_BYTES
from ..source import LDict, LList, locate, read_capped
from ..spec import Model, Shape, build

SNIFF_BYTES = 1 << 16

FORMATS = {"yaml": "cnncalc YAML", "darknet": "Darknet cfg", "ultralytics": "Ultralytics YAML",
           "onnx": "ONNX", "keras": "Keras JSON", "keras-archive": "Keras archive"}


@dataclass
class Source:
    """A model file: its display label, default name, and the path (None for stdin) or bytes."""
    label: str
    stem: str
    path: Path | None
    data: bytes | None = None

    def head(self) -> bytes:
        if self.data is not None:
            return self.data[:SNIFF_BYTES]
        assert self.path is not None
        try:
            with self.path.open("rb") as fh:
                return fh.read(SNIFF_BYTES)
        except OSError as e:
            raise CnnCalcError(f"cannot read {self.label}: {e.strerror or e}") from None

    def mappable(self) -> bool:
        """A regular file (which may be mapped or seeked); a device or a pipe is read instead,
        up to the spec limit."""
        if self.path is None or self.data is not None:
            return False
        try:
            return self.path.resolve().is_file()
        except OSError:
            return False

    def read(self, what: str = "a spec") -> bytes:
        """The whole file, at most the spec limit."""
        if self.data is None:
            assert self.path is not None
            try:
                with self.path.open("rb") as fh:
                    self.data = read_capped(fh, self.label, what)
            except OSError as e:
                raise CnnCalcError(f"cannot read {self.label}: {e.strerror or e}") from None
        return self.data


def open_source(spec: str) -> Source:
    if spec == "-":
        import sys
        data = read_capped(getattr(sys.stdin, "buffer", None), "<stdin>", "standard input")
        return Source("<stdin>", "stdin", None, data)
    path, label = locate(spec)
    return Source(label, path.stem, path)


def sniff(head: bytes, suffix: str = "") -> str:
    """The format of a file from its first bytes; the extension decides only what the content
    leaves open (a garbage ``.onnx`` still goes to the ONNX reader, which says what is wrong)."""
    suffix = suffix.lower()
    if head.startswith(b"PK\x03\x04") or (suffix == ".keras" and not head.startswith(b"\x1f\x8b")):
        return "keras-archive"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if _looks_like_onnx(head) or suffix == ".onnx":
        return "onnx"
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    first = _first_line(text)
    if first.startswith("{"):
        return "keras"
    if first.startswith("[") and first.rstrip().endswith("]") and "," not in first \
            and (first[1:-1].strip().isidentifier() or suffix == ".cfg"):
        return "darknet"
    if suffix == ".cfg":
        return "darknet"
    if _has_top_key(text, "backbone") and _has_top_key(text, "head"):
        return "ultralytics"
    if suffix == ".json":
        return "keras"
    return "yaml"


def _looks_like_onnx(head: bytes) -> bool:
    """A ModelProto starts with field 1 (ir_version, a small varint): bytes 0x08, 1..15. No text
    format starts with a 0x08 byte."""
    return len(head) >= 2 and head[0] == 0x08 and 1 <= head[1] <= 15


def _first_line(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith(("#", ";")):
            return s
    return ""


def _has_top_key(text: str, key: str) -> bool:
    return any(line.startswith(f"{key}:") for line in text.splitlines())


def read(spec: str, scale: str | None = None) -> tuple[str, str, Any, str]:
    """SPEC → (label, stem, the spec mapping or native YAML text, format)."""
    src = open_source(spec)
    fmt = sniff(src.head(), src.path.suffix if src.path else "")
    if scale is not None and fmt != "ultralytics":
        raise CnnCalcError(f"--scale picks the size of an Ultralytics model YAML; this is "
                           f"{_article(FORMATS.get(fmt, fmt))}", file=src.label)
    if fmt == "onnx":
        from .onnxgraph import read as read_onnx
        return src.label, src.stem, read_onnx(src), fmt
    if fmt == "keras-archive":
        from .keras import read_archive
        return src.label, src.stem, read_archive(src), fmt
    data = src.read()
    if fmt == "gzip":
        data = gunzip(data, src.label)
        fmt = sniff(data[:SNIFF_BYTES], Path(src.stem).suffix)
        src.stem = Path(src.stem).stem
        if fmt in ("onnx", "keras-archive", "gzip"):
            raise CnnCalcError("a gzipped file holds a model as text (YAML, a Darknet cfg or "
                               "Keras JSON), not an ONNX model or a zip", file=src.label)
    from ..source import decode_text
    text = decode_text(data, src.label, "a model file (YAML spec, Darknet cfg, Ultralytics "
                                        "YAML, ONNX or Keras)")
    if fmt == "darknet":
        from .darknet import read as read_darknet
        return src.label, src.stem, read_darknet(text, src.label, src.stem), fmt
    if fmt == "ultralytics":
        from .ultralytics import read as read_ultralytics
        return src.label, src.stem, read_ultralytics(text, src.label, src.stem, scale), fmt
    if fmt == "keras":
        from .keras import read_json
        return src.label, src.stem, read_json(text, src.label), fmt
    return src.label, src.stem, text, fmt


def _article(name: str) -> str:
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def gunzip(data: bytes, label: str) -> bytes:
    """Decompress at most the spec limit (a gzip bomb stops there)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            out = fh.read(MAX_SPEC_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise CnnCalcError(f"not a valid gzip file: {e}", file=label) from None
    if len(out) > MAX_SPEC_BYTES:
        raise CnnCalcError(f"decompresses to more than {MAX_SPEC_BYTES >> 20} MiB, the limit for "
                           f"a spec (docs/LIMITS.md)", file=label)
    return out


def load(spec: str, input_shape: Shape | None = None, scale: str | None = None) -> Model:
    """Read SPEC (a built-in name, a file of any supported format, or '-') into a model."""
    from ..spec import loads
    label, stem, doc, fmt = read(spec, scale)
    if fmt == "yaml":
        return loads(doc, label, stem, input_shape)
    return build(doc, label, stem, input_shape)


# --- writing a spec ------------------------------------------------------------------------------

def plain(value: Any) -> Any:
    """The mapping without line-number subclasses (LDict, LList), for the YAML writer."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def to_yaml(doc: Any, label: str, fmt: str) -> str:
    """A readable cnncalc spec: one line per layer, blocks first."""
    import yaml

    if isinstance(doc, str):            # already a cnncalc spec
        return doc
    head = f"# Converted by cnncalc from {label} ({FORMATS[fmt]}).\n"
    return head + yaml.safe_dump(plain(doc), sort_keys=False, default_flow_style=None,
                                 width=100, allow_unicode=True)


# --- helpers for the readers ---------------------------------------------------------------------

def entry(kind: str, line: int | None = None, **params: Any) -> LDict:
    """One layer entry ``{kind: {params}}`` (``None`` values left out), remembering the line of
    the source file so that errors found later point there."""
    inner = LDict((k, v) for k, v in params.items() if v is not None)
    inner.line = line
    out = LDict({kind: inner if inner else None})
    out.line = line
    return out


def seq(items: list | None = None, line: int | None = None) -> LList:
    out = LList(items or [])
    out.line = line
    return out

"""Images in and out of the NumPy engine: ``--image`` (PNG, JPEG and anything else Pillow reads,
or a ``.npy`` array) and ``--save-maps`` (one PNG grid of feature maps per layer).

Input rule: pixels become float32 in [0, 1] (8-bit values / 255, 16-bit / 65535), H×W×C, resized
with Pillow's bilinear filter to the spec's input H×W unless ``--input auto`` asks for the image's
own size. Channels follow the spec's input C: 3 = RGB (a grey image is repeated into R, G and B;
transparency is composited over white, as a viewer shows it), 1 = grey (ITU-R 601-2 luma), 4 = RGBA
(opaque alpha added when missing). Other channel counts need a ``.npy`` array. A ``.npy`` array is
used as it is (H×W×C, or H×W for one channel; no scaling, no resizing): its shape must match the
spec's input unless ``--input auto``. Non-finite values (NaN, infinity, in a ``.npy`` array or a
float TIFF) are an error naming the file.

Memory: before a picture is decoded its header gives its size, and a picture whose decoding
would take more than the run's memory budget, or that has more than
:data:`~cnncalc.limits.MAX_IMAGE_PIXELS` pixels, is refused (Pillow's decompression-bomb limit is
set from the same numbers); so is a ``.npy`` array whose header promises too much. The map writer
works one feature map at a time and declares what it needs (:meth:`MapWriter.scratch_bytes`) for
the run's memory estimate.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

import numpy as np

from .errors import CnnCalcError
from .files import atomic_file, clashes, short_name
from .layers import fmt_shape
from .limits import MAX_IMAGE_PIXELS

F32 = np.float32
DATA_DIR = Path(__file__).parent / "data"
SAMPLES = {"chelsea": DATA_DIR / "chelsea.png"}     # --image chelsea: the bundled sample photo


def resolve(path: str) -> Path:
    """A path, or the name of a bundled sample (``chelsea``) when no such file exists."""
    p = Path(path)
    if not p.exists() and path in SAMPLES:
        return SAMPLES[path]
    return p


def _channels_of(img) -> int:
    return {"L": 1, "1": 1, "I": 1, "I;16": 1, "F": 1, "LA": 4, "RGBA": 4, "PA": 4}.get(
        img.mode, 4 if "transparency" in img.info else 3)


def _pil_array(img, channels: int, path: str) -> np.ndarray:
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I") or img.mode == "F":
        if channels not in (1, 3):
            raise CnnCalcError(f"{path}: a {img.mode}-mode (high bit depth grey) image gives 1 "
                               f"channel, but the network expects {channels}")
        arr = np.asarray(img, dtype=F32)
        if img.mode == "F":                # a float TIFF may hold NaN or infinity
            _refuse_non_finite(arr, path)
        else:
            arr = arr / F32(65535 if arr.max(initial=0) > 255 else 255)
        arr = arr[:, :, None]
        return np.repeat(arr, 3, axis=2) if channels == 3 else arr
    if channels == 1:
        if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
            img = _over_white(img.convert("RGBA"))
        img = img.convert("L")
    elif channels == 3:
        if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
            img = _over_white(img.convert("RGBA"))
        img = img.convert("RGB")
    elif channels == 4:
        img = img.convert("RGBA")
    else:
        raise CnnCalcError(f"{path}: the network's input has {channels} channels; an image "
                           f"gives 1 (grey), 3 (RGB) or 4 (RGBA); pass a .npy array of shape "
                           f"HxWx{channels} instead")
    arr = np.asarray(img, dtype=F32) / F32(255)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _over_white(rgba):
    from PIL import Image
    bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(bg, rgba).convert("RGB")


def decode_bytes(width: int, height: int, channels: int,
                 want: tuple[int, ...] | None = None) -> int:
    """Bytes that decoding a ``width``×``height`` picture into ``channels`` float32 channels
    takes at its peak: Pillow's own pixels (4 bytes each) and up to two converted copies
    (orientation, colour mode), the float32 array and its scaled copy, and the resized array
    with its per-channel planes."""
    pixels = width * height
    total = 3 * 4 * pixels + 2 * 4 * channels * pixels
    if want is not None and len(want) == 3:
        total += 2 * 4 * channels * want[0] * want[1] + 4 * pixels
    return total


Budget = tuple[int, str]     # bytes that decoding may take, and the budget they come from


def _refuse_large(path: str, width: int, height: int, need: int, budget: Budget | None) -> None:
    from .report import commas, mib
    if width * height > MAX_IMAGE_PIXELS:
        raise CnnCalcError(f"{path}: image of {width}x{height} = {commas(width * height)} "
                           f"pixels, more than the limit of {commas(MAX_IMAGE_PIXELS)}")
    if budget is not None and need > budget[0]:
        raise CnnCalcError(f"{path}: decoding this {width}x{height} image would need about "
                           f"{mib(need)}, more than the memory budget of {budget[1]} allows; "
                           f"use a smaller image")


def load_input(path: str, want: tuple[int, ...] | None, auto: bool,
               budget: Budget | None = None) -> np.ndarray:
    """Read ``--image PATH`` as a float32 array of the network's input shape (see the module
    docstring for the rules). ``want`` is the spec's input shape (None if the spec has none);
    with ``auto`` the image's own H×W is kept. ``budget``: the bytes decoding may take and the
    budget's description (the picture's header is checked against it before any pixel is
    decoded)."""
    if path == "":
        raise CnnCalcError("--image: the path is empty")
    p = resolve(path)
    if not p.exists():
        raise CnnCalcError(f"no such image: {path}")
    if p.is_dir():
        raise CnnCalcError(f"{path} is a directory, not an image")
    if p.suffix.lower() == ".npy":
        return _load_npy(p, path, want, auto, budget)
    from PIL import Image, UnidentifiedImageError

    old_limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None       # the header's size is checked below, not here
            with Image.open(p) as img:
                channels = want[-1] if want is not None and len(want) == 3 else _channels_of(img)
                if want is not None and len(want) != 3:
                    raise CnnCalcError(f"{path}: the network's input is {fmt_shape(want)}, not "
                                       f"an HxWxC image; pass a .npy array")
                w, h = img.size         # from the header: nothing is decoded yet
                _refuse_large(path, w, h, decode_bytes(w, h, max(channels, 1),
                                                       None if auto else want), budget)
                # Pillow's own decompression-bomb check, for any other frame it decodes: the
                # pixel limit, lowered to what the budget allows
                Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS if budget is None else \
                    max(1, min(MAX_IMAGE_PIXELS, budget[0] // decode_bytes(1, 1, 4)))
                img.load()
                arr = _pil_array(img, channels, path)
    except UnidentifiedImageError:
        raise CnnCalcError(f"{path}: not an image Pillow can read (PNG, JPEG, BMP, TIFF, ...); "
                           f"a NumPy array must end in .npy") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise CnnCalcError(f"{path}: image too large ({e})") from None
    except MemoryError:
        raise CnnCalcError(f"{path}: out of memory while decoding the image") from None
    except OSError as e:
        raise CnnCalcError(f"cannot read image {path}: {e.strerror or e}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    h, w = arr.shape[:2]
    if not auto and want is not None and (h, w) != tuple(want[:2]):
        arr = resize(arr, want[0], want[1])
    return np.ascontiguousarray(arr, dtype=F32)


def _refuse_non_finite(arr: np.ndarray, path: str, original: np.ndarray | None = None) -> None:
    """NaN or infinity is refused. ``original``: the array ``arr`` was converted from (a float64
    beyond float32's range becomes infinite, and is named as such)."""
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        why = "(NaN or infinity)"
        if original is not None and np.isfinite(original[first]):
            why = f"(beyond float32's range of ±3.4e38: {original[first]:g})"
        raise CnnCalcError(f"{path}: {int(bad.sum())} non-finite value(s) {why}, the first at "
                           f"index {list(first)}")


def resize(arr: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize (Pillow, per channel in float32 mode, so no precision is lost)."""
    from PIL import Image
    chans = [np.asarray(Image.fromarray(arr[:, :, c], mode="F").resize(
        (w, h), Image.Resampling.BILINEAR), dtype=F32) for c in range(arr.shape[2])]
    return np.stack(chans, axis=2)


def _npy_header(p: Path) -> tuple[tuple[int, ...], np.dtype] | None:
    """The shape and dtype a ``.npy`` file declares, from its header (None if unreadable: the
    full load then says why)."""
    try:
        with open(p, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                return None
            shape, _, dtype = read(fh)
            return tuple(int(d) for d in shape), dtype
    except (OSError, ValueError, EOFError):
        return None


def _load_npy(p: Path, path: str, want: tuple[int, ...] | None, auto: bool,
              budget: Budget | None = None) -> np.ndarray:
    header = _npy_header(p)
    if header is not None:
        shape, dtype = header
        count = math.prod(shape)
        data = count * dtype.itemsize
        if data > os.path.getsize(p):
            raise CnnCalcError(f"cannot read array {path}: its header promises "
                               f"{_dims(shape)} of {dtype}, more than the file holds")
        need = data + 2 * 4 * count          # the data, its float32 copy and the finite check
        if budget is not None and need > budget[0]:
            from .report import mib
            raise CnnCalcError(f"{path}: loading this {_dims(shape)} array would need about "
                               f"{mib(need)}, more than the memory budget of {budget[1]} "
                               f"allows")
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise CnnCalcError(f"cannot read array {path}: {e}") from None
    if not isinstance(arr, np.ndarray) or not (np.issubdtype(arr.dtype, np.integer) or
                                               np.issubdtype(arr.dtype, np.floating) or
                                               arr.dtype == np.bool_):
        raise CnnCalcError(f"{path}: array of dtype {getattr(arr, 'dtype', '?')}; it must be "
                           f"real numbers")
    if want is not None and len(want) == 3 and arr.ndim == 2 and want[-1] == 1:
        arr = arr[:, :, None]
    if arr.ndim not in (1, 3) or (want is not None and arr.ndim != len(want)):
        expect = fmt_shape(want) if want is not None else "HxWxC"
        raise CnnCalcError(f"{path}: array of shape {_dims(arr.shape)}; expected {expect}")
    if want is not None and arr.shape[-1] != want[-1]:
        raise CnnCalcError(f"{path}: array has {arr.shape[-1]} channels, but the network "
                           f"expects {want[-1]} (input {fmt_shape(want)})")
    if want is not None and not auto and tuple(arr.shape) != tuple(want):
        raise CnnCalcError(f"{path}: array is {fmt_shape(arr.shape)}, but the network's input "
                           f"is {fmt_shape(want)}; pass --input auto to run at the array's size")
    if min(arr.shape) == 0:
        raise CnnCalcError(f"{path}: array of shape {_dims(arr.shape)} is empty")
    with np.errstate(over="ignore"):      # float64 beyond float32's range: refused below
        out = np.ascontiguousarray(arr, dtype=F32)
    _refuse_non_finite(out, path, arr)
    return out


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "() (a scalar)"


# --- feature maps --------------------------------------------------------------------------------

MAX_MAPS = 256        # maps shown per layer (the first ones)
MIN_TILE = 48         # small maps are enlarged (nearest neighbour) to at least this many pixels
MAX_WIDTH = 4096      # large grids are subsampled to about this width
GAP = 2


CLIP_PERCENT = 0.5    # normalisation ignores this % of the brightest and darkest pixels


def normalise(maps: np.ndarray) -> np.ndarray:
    """H×W×C → uint8, each map stretched to 0…255 on its own, from its 0.5th to its 99.5th
    percentile (so that a few extreme pixels do not leave the rest black); a constant map is
    black, and so are NaN and infinite values (the range ignores them)."""
    out = np.empty(maps.shape, np.uint8)
    for k in range(maps.shape[2]):
        out[:, :, k] = stretch(maps[:, :, k])
    return out


def stretch(m: np.ndarray) -> np.ndarray:
    """One H×W map → uint8 (see :func:`normalise`), with a few temporaries of its size."""
    m = m.astype(F32, copy=False)
    pct, low, high = np.percentile, np.min, np.max
    if not _finite(m):
        m = np.where(np.isfinite(m), m, F32(np.nan))
        pct, low, high = np.nanpercentile, np.nanmin, np.nanmax
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # a map that is all NaN
        lo, hi = (F32(v) for v in pct(m, [CLIP_PERCENT, 100 - CLIP_PERCENT]))
        if not hi > lo:                      # mostly constant: fall back to the full range
            lo, hi = F32(low(m)), F32(high(m))
        lo = lo if np.isfinite(lo) else F32(0)
        hi = hi if np.isfinite(hi) else F32(0)
        out = m - lo                         # one new array; the rest is done in it
        out /= hi - lo if hi > lo else F32(1)
        np.clip(out, 0, 1, out=out)
        out *= 255
        np.round(out, out=out)
        np.nan_to_num(out, copy=False, nan=0.0)
        return out.astype(np.uint8)


def _finite(m: np.ndarray) -> bool:
    """All values finite, found without a temporary as large as ``m``."""
    with np.errstate(all="ignore"):
        return m.size == 0 or bool(np.isfinite(m.min()) and np.isfinite(m.max()))


def _layout(h: int, w: int, c: int) -> tuple[int, int, int, int, int, int]:
    """A grid of ``c`` maps of ``h``×``w``: (rows, columns, enlargement, subsampling, tile
    height, tile width)."""
    cols = math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    up = max(1, math.ceil(MIN_TILE / max(h, w)))
    down = max(1, math.ceil(cols * w * up / MAX_WIDTH)) if up == 1 else 1
    th, tw = (h * up, w * up) if up > 1 else (-(-h // down), -(-w // down))
    return rows, cols, up, down, th, tw


def grid(maps: np.ndarray, max_maps: int = MAX_MAPS) -> np.ndarray:
    """H×W×C feature maps → one grey uint8 image: a near-square grid of normalised tiles
    separated by mid-grey lines. Maps too large for the grid's width are subsampled first, and
    each tile is stretched from the percentiles of the pixels it shows; the maps are taken out
    of the H×W×C array in one pass, then handled one at a time, so the memory this takes is
    about the grid's, not the layer's (see :func:`grid_bytes`)."""
    h, w, c = maps.shape
    c = min(c, max_maps)
    rows, cols, up, down, th, tw = _layout(h, w, c)
    shown = maps[::down, ::down, :c] if down > 1 else maps[:, :, :c]
    planes = np.ascontiguousarray(np.moveaxis(shown, 2, 0))      # C × h × w
    out = np.full((rows * (th + GAP) + GAP, cols * (tw + GAP) + GAP), 128, np.uint8)
    for k in range(c):
        tile = stretch(planes[k])
        if up > 1:
            tile = tile.repeat(up, axis=0).repeat(up, axis=1)
        r, q = divmod(k, cols)
        y, x = GAP + r * (th + GAP), GAP + q * (tw + GAP)
        out[y:y + th, x:x + tw] = tile
    return out


def grid_bytes(shape: tuple[int, ...]) -> int:
    """The most memory :func:`grid` and writing its PNG take for an H×W×C output: the maps as
    shown (one float32 copy), the temporaries of one tile's stretch (five float32 copies of a
    tile, a mask, the uint8 tile and its enlargement) and the grid three times (the array,
    Pillow's image, the compressed file)."""
    h, w, c = shape
    c = min(c, MAX_MAPS)
    rows, cols, up, down, th, tw = _layout(h, w, c)
    shown = c * (th // up) * (tw // up)
    grid_px = (rows * (th + GAP) + GAP) * (cols * (tw + GAP) + GAP)
    return 4 * shown + 6 * 4 * (th // up) * (tw // up) + 2 * th * tw + 3 * grid_px


def picture(x: np.ndarray) -> np.ndarray:
    """The network input as an image: RGB (or grey) as it is when in [0, 1], else stretched."""
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        x = (x - lo) / (hi - lo if hi > lo else 1)
    img = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
    return img[:, :, 0] if img.shape[2] == 1 else img


def picture_bytes(shape: tuple[int, ...]) -> int:
    """The most memory :func:`picture` and writing its PNG take: three float32 copies of the
    input and the image three times (uint8)."""
    return (3 * 4 + 3) * math.prod(shape)


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


def map_file_name(index: int, path: str) -> str:
    """``NNN_<path>.png``: the layer's index and its path made safe for a file name; a long path
    is cut, with 8 hex digits of its hash, so the name fits any file system (see
    :func:`cnncalc.files.short_name`)."""
    return short_name(f"{index:03d}_{_safe(path)}", ".png")


class MapWriter:
    """``--save-maps DIR``: the input and, for each chosen layer with an H×W×C output, a PNG grid
    of its feature maps (the first image of the batch). Each file is written whole or not at
    all (:func:`cnncalc.files.atomic_file`), so processes writing into one folder at once, or a
    Ctrl-C, never leave a broken PNG."""

    def __init__(self, directory: str, only: set[int] | None = None):
        if directory == "":
            raise CnnCalcError("--save-maps: the path is empty")
        self.dir = Path(directory)
        if self.dir.exists() and not self.dir.is_dir():
            raise CnnCalcError(f"--save-maps {directory} is a file, not a directory")
        self.only = only
        self.written: list[Path] = []
        self.skipped = 0

    def open(self) -> None:
        """Create the directory (once the run is known to fit in memory)."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CnnCalcError(f"cannot create --save-maps directory {self.dir}: "
                               f"{e.strerror or e}") from None

    def wanted(self, index: int, shape: tuple[int, ...]) -> bool:
        """Whether node ``index`` (0 = the input) with this output shape gets a file."""
        return len(shape) == 3 and (index == 0 or self.only is None or index in self.only)

    def scratch_bytes(self, index: int, shape: tuple[int, ...]) -> int:
        """What writing node ``index``'s file takes besides the output itself (for the run's
        memory estimate; 0 for nodes that get no file)."""
        if not self.wanted(index, shape):
            return 0
        if index == 0 and shape[-1] in (1, 3):
            return picture_bytes(shape)
        return grid_bytes(shape)

    def check_inputs(self, layers: list[tuple[int, str]],
                     inputs: dict[str, str | os.stat_result | None]) -> None:
        """Refuse, before the run, a map file that would replace one of the ``inputs``
        (``--save-maps .`` next to ``--image 000_input.png``)."""
        names = ["000_input.png"] + [map_file_name(i, p) for i, p in layers
                                     if self.only is None or i in self.only]
        for name in names:
            label = clashes(self.dir / name, inputs)
            if label is not None:
                raise CnnCalcError(f"--save-maps {self.dir} would replace {self.dir / name}, "
                                   f"the {label}; choose another directory")

    def _save(self, pixels: np.ndarray, name: str) -> None:
        from PIL import Image
        path = self.dir / name
        with atomic_file(path, "--save-maps file") as fh:
            Image.fromarray(pixels).save(fh, format="PNG", compress_level=3)
        self.written.append(path)

    def input(self, x: np.ndarray) -> None:
        """``x``: the batch (N×H×W×C)."""
        if x.ndim != 4:
            return
        img = picture(x[0]) if x.shape[-1] in (1, 3) else grid(x[0])
        self._save(img, "000_input.png")

    def layer(self, index: int, path: str, y: np.ndarray) -> None:
        if self.only is not None and index not in self.only:
            return
        if y.ndim != 4:
            self.skipped += 1
            return
        self._save(grid(y[0]), map_file_name(index, path))

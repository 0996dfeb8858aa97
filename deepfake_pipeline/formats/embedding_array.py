"""The `.npy` array of step 2's embeddings: layers-major `(layers, clips, dim)`, so that one
hidden state of every clip is one contiguous block of the file.

A layer sweep reads one layer at a time; in this layout that is one read of 1/L of the file,
without mapping it (mapped pages that a process touches count in its RSS). The earlier
clips-major `(clips, layers, dim)` layout (embeddings format 2) put a layer in 2 KiB pieces
50 KiB apart: on an XLS-R-shaped file of LA-train size (25,380 x 25 x 1024 float16, 1.3 GB) a
one-layer read through np.load's memory map took 0.8-1.0 s from disk and raised RSS by the whole
file (1.29 GB); a read per clip kept RSS at the layer's 50 MiB but took 2.75 s. Layers-major:
0.06 s from disk, 0.02 s from the page cache, RSS +50 MiB (bench/bench_layer_read.py).

Writers take the rows in blocks (step 2's parts, or one array), so no (clips, layers, dim) copy
of the whole split is ever made; `upgrade_clips_major` rewrites a format-2 file in place."""

from pathlib import Path

import numpy as np

from deepfake_pipeline.common import atomic
from deepfake_pipeline.common.errors import PipelineError

LAYOUT = "(layers, clips, dim)"
# Rows per block when a clips-major file is read for its upgrade (about 50 MiB for 25 x 1024).
UPGRADE_ROWS = 1024


class ArrayError(PipelineError, ValueError):
    """The array file is not what its metadata describes (truncated, another shape or dtype)."""


def read_header(path) -> tuple:
    """(shape, dtype, offset of the data) of an .npy file, read without loading or mapping it."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read(handle)
        offset = handle.tell()
    if fortran_order or dtype.kind != "f":
        raise ArrayError(
            f"{path} holds {'a Fortran-ordered ' if fortran_order else ''}{dtype} array, "
            "not the C-ordered floats step 2 writes"
        )
    size = Path(path).stat().st_size
    needed = offset + int(np.prod(shape)) * dtype.itemsize
    if size < needed:
        raise ArrayError(f"{path} is truncated ({size:,} bytes, its header needs {needed:,})")
    return tuple(shape), dtype, offset


def write(path, blocks, num_clips: int, num_layers: int, dim: int, dtype, on_written=None) -> Path:
    """Write `blocks` (consecutive row blocks, each (rows, layers, dim): one array, or any
    iterable of them) as a layers-major array, through a temporary file renamed into place.
    Each block is written as `num_layers` runs at their places in the file, so memory holds one
    block at a time."""
    dtype = np.dtype(dtype)
    blocks = [blocks] if isinstance(blocks, np.ndarray) else blocks
    header = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": False,
        "shape": (num_layers, num_clips, dim),
    }
    with atomic.atomic_path(path, on_written) as tmp, open(tmp, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        offset, row, stride = handle.tell(), 0, dim * dtype.itemsize
        for block in blocks:
            if block.ndim != 3 or block.shape[1:] != (num_layers, dim) or block.dtype != dtype:
                raise ArrayError(
                    f"a block of shape {block.shape} {block.dtype} for {path}, expected "
                    f"(rows, {num_layers}, {dim}) {dtype}"
                )
            if row + len(block) > num_clips:
                raise ArrayError(f"more than the {num_clips} clips announced for {path}")
            for layer in range(num_layers):
                handle.seek(offset + (layer * num_clips + row) * stride)
                handle.write(np.ascontiguousarray(block[:, layer, :]).data)
            row += len(block)
        if row != num_clips:
            raise ArrayError(f"{row} clips written to {path}, {num_clips} announced")
        handle.truncate(offset + num_layers * num_clips * stride)  # a file of 0 clips
    return Path(path)


def read_layer(path, position: int, shape: tuple, dtype, offset: int) -> np.ndarray:
    """Layer `position` (its index among the stored layers) of every clip, (clips, dim), in the
    stored dtype: one read of that layer's bytes into a fresh array."""
    _, clips, dim = shape
    out = np.empty((clips, dim), dtype=dtype)
    with open(path, "rb", buffering=0) as handle:
        handle.seek(offset + position * out.nbytes)
        view, done = memoryview(out).cast("B"), 0  # type: ignore[arg-type]  # a Buffer; typed so from 3.12
        while done < out.nbytes:
            got = handle.readinto(view[done:])
            if not got:
                raise ArrayError(f"{path} ended inside layer {position}")
            done += got
    return out


def clips_major_blocks(path, rows: int = UPGRADE_ROWS):
    """Row blocks (rows, layers, dim) of a clips-major (format 2) array, each read whole from the
    file (its rows are contiguous there), none mapped."""
    (clips, layers, dim), dtype, offset = read_header(path)
    row_bytes = layers * dim * dtype.itemsize
    with open(path, "rb", buffering=0) as handle:
        handle.seek(offset)
        for start in range(0, clips, rows):
            block = np.empty((min(rows, clips - start), layers, dim), dtype=dtype)
            view, done = memoryview(block).cast("B"), 0  # type: ignore[arg-type]  # as above
            while done < block.nbytes:
                got = handle.readinto(view[done:])
                if not got:
                    raise ArrayError(f"{path} ended at row {start + done // row_bytes}")
                done += got
            yield block


def upgrade_clips_major(path, num_clips: int, num_layers: int, dim: int, dtype) -> None:
    """Rewrite a format-2 (clips, layers, dim) file as layers-major, in place (temporary file,
    then rename). The caller removes the metadata first and writes the new one after, so a kill
    in between leaves an array without metadata, which reads as missing (and is recomputed)."""
    shape, stored, _ = read_header(path)
    if shape != (num_clips, num_layers, dim) or stored != np.dtype(dtype):
        raise ArrayError(f"{path} holds {shape} {stored}, its metadata says ({num_clips}, {num_layers}, {dim}) {dtype}")
    write(path, clips_major_blocks(path), num_clips, num_layers, dim, dtype)

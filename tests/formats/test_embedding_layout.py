"""Step 2's embeddings array, layers-major (embeddings format 3): what the writer puts in the file
(checked with plain numpy), one layer read alone against the whole array, the views step 3 reads
one at a time, and refusals of a damaged file. Memory is measured in bench/bench_scale.py and
bench/bench_layer_read.py, not here."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from logreg_fixtures import balanced_design, make_split

from deepfake_pipeline.formats import embedding_array
from deepfake_pipeline.formats.feature_files import (
    FeatureError,
    embeddings_paths,
    load_embeddings,
    model_tag,
    open_embeddings,
    write_embeddings,
)
from deepfake_pipeline.formats.feature_sets import FeatureSpec, load_split
from deepfake_pipeline.formats.manifest import manifest_sha256

SPLIT = "toy_dev"


@pytest.fixture
def stored(tmp_path):
    """A split whose (clips, layers, dim) = (40, 5, 6) float16 embeddings are written by the
    formats' writer; returns (interim, processed, the array as written)."""
    labels, speakers = balanced_design(4, 10)
    values = np.random.default_rng(3).normal(size=(len(labels), 5, 6)).astype(np.float16)
    make_split(tmp_path / "interim", tmp_path / "processed", SPLIT, labels, speakers, embeddings=values)
    return tmp_path / "interim", tmp_path / "processed", values


def test_the_file_is_layers_major_and_one_layer_reads_as_the_whole_array_does(stored):
    interim, processed, values = stored
    array_path, meta_path = embeddings_paths(SPLIT, model_tag("random:base"), processed)
    on_disk = np.load(array_path)
    np.testing.assert_array_equal(on_disk, values.transpose(1, 0, 2))
    assert on_disk.dtype == np.float16 and json.loads(meta_path.read_text())["format_version"] == 3
    embeddings = open_embeddings(SPLIT, "random-base", processed, interim)
    whole, meta = load_embeddings(SPLIT, "random-base", processed, interim)
    assert whole.dtype == np.float32 and meta["layers"] == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(whole, values.astype(np.float32))
    for layer in range(5):
        alone = embeddings.layer(layer)
        assert alone.dtype == np.float16 and alone.flags.c_contiguous
        np.testing.assert_array_equal(alone, values[:, layer, :])
        np.testing.assert_array_equal(alone, whole[:, layer, :])
    some, some_meta = load_embeddings(SPLIT, "random-base", processed, interim, layers=[3, 1], dtype=np.float16)
    assert some.dtype == np.float16 and some_meta["layers"] == [3, 1]
    np.testing.assert_array_equal(some, values[:, [3, 1], :])


def test_row_blocks_of_any_sizes_write_the_same_file_as_one_array(tmp_path):
    values = np.random.default_rng(0).normal(size=(23, 4, 3)).astype(np.float32)
    meta = {"num_clips": 23, "layers": [0, 1, 2, 3], "dim": 3, "dtype": "float32"}
    write_embeddings(tmp_path / "one.npy", tmp_path / "one.json", values, meta)
    write_embeddings(
        tmp_path / "blocks.npy",
        tmp_path / "blocks.json",
        (values[a:b] for a, b in ((0, 1), (1, 9), (9, 9), (9, 23))),
        meta,
    )
    assert (tmp_path / "one.npy").read_bytes() == (tmp_path / "blocks.npy").read_bytes()
    np.testing.assert_array_equal(np.load(tmp_path / "one.npy"), values.transpose(1, 0, 2))
    write_embeddings(tmp_path / "empty.npy", tmp_path / "empty.json", [], {**meta, "num_clips": 0})
    assert np.load(tmp_path / "empty.npy").shape == (4, 0, 3)


@pytest.mark.parametrize(
    "blocks, says",
    [
        ([np.zeros((23, 4, 3), np.float16)], "expected (rows, 4, 3) float32"),
        ([np.zeros((23, 3, 3), np.float32)], "expected (rows, 4, 3) float32"),
        ([np.zeros((20, 4, 3), np.float32)], "20 clips written"),
        ([np.zeros((20, 4, 3), np.float32)] * 2, "more than the 23 clips announced"),
    ],
)
def test_the_writer_refuses_rows_that_are_not_what_the_metadata_says_and_leaves_no_file(tmp_path, blocks, says):
    meta = {"num_clips": 23, "layers": [0, 1, 2, 3], "dim": 3, "dtype": "float32"}
    with pytest.raises(embedding_array.ArrayError, match=re.escape(says)):
        write_embeddings(tmp_path / "x.npy", tmp_path / "x.json", blocks, meta)
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_or_reshaped_array_is_refused_with_the_command_that_recomputes_it(stored):
    interim, processed, values = stored
    array_path, _ = embeddings_paths(SPLIT, "random-base", processed)
    intact = array_path.read_bytes()
    array_path.write_bytes(intact[:-100])
    with pytest.raises(FeatureError, match=r"is truncated .*run `features.py --splits toy_dev --model random:base"):
        open_embeddings(SPLIT, "random-base", processed, interim)
    np.save(array_path, values)  # clips-major under a format-3 record
    with pytest.raises(FeatureError, match=r"shape \(40, 5, 6\) but metadata says 40 clips .*--overwrite"):
        open_embeddings(SPLIT, "random-base", processed, interim)
    np.save(array_path, values.transpose(1, 0, 2)[:4])
    with pytest.raises(FeatureError, match=r"its metadata describes 5 layers of 6 dims"):
        open_embeddings(SPLIT, "random-base", processed, interim)


def test_views_are_read_when_asked_for_and_match_the_whole_array(stored):
    interim, processed, values = stored
    sweep = load_split(SPLIT, FeatureSpec("embeddings", model="random:base", sweep=True), interim, processed)
    assert list(sweep.views) == [f"layer_{k}" for k in range(5)] and len(sweep.views) == 5
    for layer in range(5):
        first, again = sweep.views[f"layer_{layer}"], sweep.views[f"layer_{layer}"]
        assert first.dtype == np.float16 and first is not again  # read each time, nothing kept
        np.testing.assert_array_equal(first, values[:, layer, :])
    joined = load_split(SPLIT, FeatureSpec("embeddings", model="random:base", layers=(4, 0, 2)), interim, processed)
    (view,) = joined.views.values()
    np.testing.assert_array_equal(view, values[:, [4, 0, 2], :].reshape(len(values), -1))
    assert joined.meta["layers"] == [0, 2, 4] and joined.view_layers == {"layers_4+0+2": [4, 0, 2]}


def test_left_out_clips_are_left_out_of_every_view(stored):
    interim, processed, values = stored
    manifest_path = interim / SPLIT / "manifest.csv"
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    manifest["duplicate_of"] = ""
    manifest.loc[[3, 7], "duplicate_of"] = manifest["utt_id"][0]
    manifest.to_csv(manifest_path, index=False)
    meta_path = embeddings_paths(SPLIT, "random-base", processed)[1]
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "manifest_sha256": manifest_sha256(interim / SPLIT)}))
    split = load_split(SPLIT, FeatureSpec("embeddings", model="random:base", layer=2), interim, processed)
    kept = [i for i in range(len(values)) if i not in (3, 7)]
    assert split.left_out_duplicates == 2 and split.rows.tolist() == kept
    np.testing.assert_array_equal(split.views["layer_2"], values[kept, 2, :])


def test_a_layer_with_nan_is_refused_before_any_work(tmp_path):
    labels, speakers = balanced_design(4, 10)
    values = np.random.default_rng(3).normal(size=(len(labels), 3, 4))
    values[5, 2, 1] = np.nan
    make_split(tmp_path / "interim", tmp_path / "processed", SPLIT, labels, speakers, embeddings=values)
    spec = FeatureSpec("embeddings", model="random:base", layer=1)
    load_split(SPLIT, spec, tmp_path / "interim", tmp_path / "processed")  # layer 1 is finite
    with pytest.raises(FeatureError, match=r"hold NaN or inf \(layer 2\): rerun features.py"):
        load_split(
            SPLIT,
            FeatureSpec("embeddings", model="random:base", sweep=True),
            tmp_path / "interim",
            tmp_path / "processed",
        )

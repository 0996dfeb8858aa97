"""Step 1's refusals of what the user gave are InputErrors naming the file (ingest/corpora and the
readers beside it), including the files pandas, the csv module or json cannot read at all."""

import pandas as pd
import pytest

from deepfake_pipeline.common.errors import InputError
from deepfake_pipeline.formats.labels import parse_label
from deepfake_pipeline.ingest.corpora import read_csv_strings, text_lines
from deepfake_pipeline.ingest.corpora.asvspoof import read_protocol
from deepfake_pipeline.ingest.corpora.fakeavceleb import load_or_make_split, read_metadata
from deepfake_pipeline.ingest.corpora.in_the_wild import read_meta
from deepfake_pipeline.ingest.decode import Crop

NOT_TEXT = b"fLaC\x00\x00\x00\x22\xff\xfe\x80"


def test_read_csv_strings_keeps_every_value_as_text_and_names_a_file_it_cannot_read(tmp_path):
    listing = tmp_path / "clips.csv"
    listing.write_text("path,label,speaker\na.wav,real,NA\nb.wav,fake,-\n")
    table = read_csv_strings(listing)
    assert table.to_dict("list") == {"path": ["a.wav", "b.wav"], "label": ["real", "fake"], "speaker": ["NA", "-"]}
    listing.write_text("")
    with pytest.raises(InputError) as empty:
        read_csv_strings(listing)
    assert str(empty.value) == f"{listing} cannot be read as a CSV (No columns to parse from file)"
    listing.write_text('path,label\n"a.wav,real\n')
    with pytest.raises(InputError, match="^" + f"{listing} cannot be read as a CSV ") as unbalanced:
        read_csv_strings(listing)
    assert isinstance(unbalanced.value.__context__, pd.errors.ParserError)


def test_a_protocol_or_metadata_file_that_is_not_text_is_refused_naming_it(tmp_path):
    binary = tmp_path / "protocol.txt"
    binary.write_bytes(NOT_TEXT)
    for read in (text_lines, read_protocol, read_metadata, read_meta):
        with pytest.raises(InputError) as refused:
            read(binary)
        assert str(refused.value).startswith(str(binary)), (read, refused.value)


def test_a_damaged_saved_identity_split_is_refused_with_what_to_do(tmp_path):
    split_file = tmp_path / "split.json"
    split_file.write_text('{"seed": 0, "assignment": {')
    meta = pd.DataFrame({"source": ["id00076"]})
    with pytest.raises(InputError) as refused:
        load_or_make_split(meta, split_file, seed=0)
    assert str(refused.value).startswith(f"{split_file} is damaged (")
    assert str(refused.value).endswith("; delete it to draw a new split (every later stage must then be rerun)")


def test_a_bad_label_or_crop_is_an_input_error_with_its_message():
    with pytest.raises(InputError) as label:
        parse_label("maybe")
    assert str(label.value) == "unknown label 'maybe': use bonafide/spoof (also accepted: real/fake, genuine, 0/1)"
    with pytest.raises(InputError, match=r"^--crop must be a positive number of seconds \(got 0\)$"):
        Crop(0)
    with pytest.raises(InputError, match=r"^--crop-at must be one of start, centre \(got 'end'\)$"):
        Crop(4.0, "end")

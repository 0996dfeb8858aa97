"""The error classes of common/errors.py."""

import pytest

from deepfake_pipeline.common.errors import InputError, PipelineError


def test_an_input_error_is_a_pipeline_error_and_a_value_error():
    # guarded_main catches it as a PipelineError; code that caught the plain ValueError the
    # readers raised before still catches it.
    assert issubclass(InputError, PipelineError) and issubclass(InputError, ValueError)
    assert InputError("x").exit_code == 2
    with pytest.raises(ValueError, match="^protocol.txt:3: bad$"):
        raise InputError("protocol.txt:3: bad")

"""The recipes by name, and the spec strings that name the ones needing a folder or a setting.

Spec grammar (`recipe_from_spec`), one recipe per string:

    rawboost1 .. rawboost8        RawBoost algorithm N of SSL_Anti-spoofing's `--algo` (rawboost.py)
    mp3-32k, aac-64k, opus-16k,   a lossy codec at N kbit/s; any N the encoder takes
    vorbis-32k, <codec>-<N>k
    mulaw-8k, alaw-8k             G.711 through 8 kHz, as a telephone line carries it
    g722                          G.722 (64 kbit/s) at 16 kHz
    speed[:factor=LO-HI]          speed (tempo and pitch) by a factor drawn from LO-HI (0.9-1.1)
    noise:<folder>[:snr=LO-HI]    a noise file from <folder> (any .wav/.flac below it, MUSAN's
                                  layout) added at an SNR in dB drawn from LO-HI (default 5-20)
    rir:<folder>                  convolution with a room impulse response from <folder>

A folder may contain ':'; the fields after it that look like `key=value` are the settings.

A recipe's name goes into split folders and clip ids (`<split>+<recipe>`), so it holds only
letters, digits, '.', '-' and 'to': `noise-snr5to20`, `speed0.95to1.05`, `rir`, `mp3-32k`. The
folder is not part of it, so moving the folder does not change what a clip draws; each copy's
params record the file it used, relative to the folder."""

import re
from pathlib import Path

from deepfake_pipeline.augment import codecs, noise, rawboost, rooms, speed
from deepfake_pipeline.augment.base import AugmentError, Recipe, seeded_rng
from deepfake_pipeline.common.errors import InputError

__all__ = ["AugmentError", "Recipe", "RECIPES", "recipe", "recipe_from_spec", "seeded_rng"]

_SETTING = re.compile(r"^([a-z_]+)=(.*)$")
_BITRATE = re.compile(r"^(mp3|aac|opus|vorbis)-(\d+)k$")


def _registry() -> dict:
    fixed = [rawboost.rawboost_recipe(algo) for algo in range(1, 9)]
    fixed += [codecs.lossy_recipe(codec, kbps) for codec, kbps in codecs.NAMED_BITRATES]
    fixed += [codecs.telephony_recipe(name) for name in codecs.TELEPHONY]
    fixed.append(speed.speed_recipe(*speed.DEFAULT_FACTORS))
    return {r.name: r for r in fixed}


RECIPES: dict[str, Recipe] = _registry()


def recipe(name: str) -> Recipe:
    """The fixed recipe called `name`; `noise:` and `rir:` need `recipe_from_spec`."""
    if name not in RECIPES:
        raise InputError(
            f"unknown recipe {name!r}; known: {', '.join(RECIPES)}; "
            "with a folder or a setting: noise:<folder>[:snr=LO-HI], rir:<folder>, "
            "speed:factor=LO-HI, <mp3|aac|opus|vorbis>-<N>k"
        )
    return RECIPES[name]


def _range(spec: str, key: str, text: str) -> tuple[float, float]:
    match = re.fullmatch(r"(-?[0-9.]+)(?:-(-?[0-9.]+))?", text)
    if not match:
        raise InputError(f"{spec!r}: {key}= takes LO-HI or one number, got {text!r}")
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) is not None else low
    if low > high:
        raise InputError(f"{spec!r}: {key}= range {text!r} runs backwards")
    return low, high


def _split_spec(spec: str) -> tuple[str, str | None, dict]:
    name, _, rest = spec.partition(":")
    fields = rest.split(":") if rest else []
    settings = {}
    while fields and (setting := _SETTING.match(fields[-1])):
        fields.pop()
        key, value = setting.groups()
        if key in settings:
            raise InputError(f"{spec!r}: {key}= given twice")
        settings[key] = value
    folder = ":".join(fields) if fields else None
    return name, folder, settings


def _refuse_unknown(spec: str, settings: dict, allowed: set) -> None:
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise InputError(f"{spec!r}: unknown setting {unknown[0]}= (takes: {', '.join(sorted(allowed)) or 'none'})")


def _folder(spec: str, folder: str | None) -> Path:
    if not folder:
        raise InputError(f"{spec!r}: needs a folder, e.g. {spec.split(':')[0]}:/data/musan")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise InputError(f"{spec!r}: {path} is not a folder")
    return path


def recipe_from_spec(spec: str) -> Recipe:
    """The recipe a spec string names (grammar in the module docstring); `ValueError` with the
    reason when the spec is malformed or its folder holds nothing usable."""
    spec = spec.strip()
    if spec in RECIPES:
        return RECIPES[spec]
    bitrate = _BITRATE.match(spec)
    if bitrate:
        return codecs.lossy_recipe(bitrate.group(1), int(bitrate.group(2)))
    name, folder, settings = _split_spec(spec)
    if name == "noise":
        _refuse_unknown(spec, settings, {"snr"})
        snr = _range(spec, "snr", settings["snr"]) if "snr" in settings else noise.DEFAULT_SNR_DB
        return noise.noise_recipe(_folder(spec, folder), *snr)
    if name == "rir":
        _refuse_unknown(spec, settings, set())
        return rooms.rir_recipe(_folder(spec, folder))
    if name == "speed":
        _refuse_unknown(spec, settings, {"factor"})
        if folder:
            raise InputError(f"{spec!r}: speed takes no folder")
        factors = _range(spec, "factor", settings["factor"]) if "factor" in settings else speed.DEFAULT_FACTORS
        return speed.speed_recipe(*factors)
    recipe(spec)  # raises with the list of known names
    raise AssertionError("unreachable")

"""Lossy and telephone codecs in-process with PyAV: encode, decode, and hand back a copy at the
input's rate, aligned with its source and of its length.

A clip is encoded at its own rate when the encoder takes it (else at the next rate up that it
takes, through soxr), decoded, and brought back to the clip's rate. Telephony goes through the line's
rate as a telephone network does: G.711 mu-law and A-law at 8 kHz, G.722 at 16 kHz.

Alignment: encoders prime with silence and decoders differ in whether they drop it (FFmpeg's MP3
and Opus decoders do, its AAC and G.722 decoders do not), so the delay of each codec setting is measured once,
by cross-correlating the round trip of a fixed noise burst with the burst itself, and removed
from every clip: a constant per setting, never a per-clip guess that noisy audio could fool.
The same trip measures the bitrate the encoder really gives, recorded with each copy.
Anything that stops a clip from being encoded -- an encoder this FFmpeg build lacks, an error in
encoding or decoding, a decode shorter than the clip -- raises AugmentError naming the codec."""

from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np
import soxr
from scipy import signal

from deepfake_pipeline.augment.base import AugmentError, Recipe, as_mono_float32
from deepfake_pipeline.common.errors import InputError


@dataclass(frozen=True)
class CodecSetting:
    label: str  # what the recipe calls it: mp3, aac, opus, vorbis, mulaw, alaw, g722
    encoder: str  # FFmpeg encoder name
    decoder: str
    bit_rate: int | None  # bit/s; None for the fixed-rate telephone codecs
    rate: int | None = None  # the line's rate (telephony), or None: the clip's own when possible


LOSSY = {  # label: (encoder, decoder)
    "mp3": ("libmp3lame", "mp3"),
    "aac": ("aac", "aac"),
    "opus": ("libopus", "libopus"),
    # libvorbis, not FFmpeg's native encoder: that one is experimental, stereo only, and ignores
    # the bitrate (about 69 kbit/s whatever is asked), so a "vorbis-32k" made with it would lie
    "vorbis": ("libvorbis", "vorbis"),
}
NAMED_BITRATES = [("mp3", 32), ("mp3", 64), ("aac", 64), ("opus", 16), ("vorbis", 32)]
TELEPHONY = {
    "mulaw-8k": CodecSetting("mulaw", "pcm_mulaw", "pcm_mulaw", None, rate=8000),
    "alaw-8k": CodecSetting("alaw", "pcm_alaw", "pcm_alaw", None, rate=8000),
    "g722": CodecSetting("g722", "g722", "g722", None, rate=16000),
}
CALIBRATION_SECONDS = 1.0
MAX_DELAY_S = 0.25  # no codec here primes with more; a larger lag means the calibration failed
BITRATE_TOLERANCE = (0.7, 1.3)  # produced / asked, on the calibration burst
TAIL_PAD_S = 0.3  # zeros after the clip so the encoder's last frame and the delay are flushed out


def _av():
    try:
        import av
    except ImportError as error:  # PyAV is in the lock; a broken install is still a named reject
        raise AugmentError(f"PyAV is not importable: {error}") from error
    return av


def _encoder(setting: CodecSetting):
    av = _av()
    try:
        return av.codec.Codec(setting.encoder, "w")
    except ValueError as error:  # UnknownCodecError
        raise AugmentError(
            f"codec {setting.encoder}: this FFmpeg build (PyAV {av.__version__}) has no such encoder"
        ) from error


def _encoder_rate(setting: CodecSetting, sample_rate: int) -> int:
    if setting.rate:
        return setting.rate
    rates = _encoder(setting).audio_rates
    if not rates or sample_rate in rates:
        return sample_rate
    higher = [r for r in rates if r >= sample_rate]
    return min(higher) if higher else max(rates)


def _resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    return x if from_rate == to_rate else soxr.resample(x, from_rate, to_rate, quality="HQ")


def _open_pair(setting: CodecSetting, rate: int):
    av = _av()
    codec = _encoder(setting)
    try:
        encoder = av.CodecContext.create(codec, "w")
        encoder.sample_rate = rate
        encoder.layout = "mono"
        encoder.format = codec.audio_formats[0].name
        if setting.bit_rate:
            encoder.bit_rate = setting.bit_rate
        encoder.open()
        decoder = av.CodecContext.create(setting.decoder, "r")
        decoder.sample_rate = rate
        decoder.layout = "mono"
        if encoder.extradata:
            decoder.extradata = encoder.extradata
        decoder.open()
    except (av.FFmpegError, ValueError, KeyError) as error:
        raise AugmentError(f"codec {setting.encoder}: cannot open at {rate} Hz: {error}") from error
    return encoder, decoder


def _frames_to_mono(frames: list, setting: CodecSetting, rate: int) -> np.ndarray:
    """The decoded frames as one float64 mono signal at `rate` (resampled once, as a whole: a
    decoder may return a rate of its own, as libopus returns 48 kHz)."""
    if not frames:
        raise AugmentError(f"codec {setting.encoder}: the decoder returned no audio")
    kinds = {(frame.sample_rate, frame.format.name, len(frame.layout.channels)) for frame in frames}
    if len(kinds) != 1:
        raise AugmentError(f"codec {setting.encoder}: the decoder changed rate or format mid-stream ({sorted(kinds)})")
    decoded_rate, _, channels = kinds.pop()
    if channels != 1:
        raise AugmentError(f"codec {setting.encoder}: a mono stream decoded to {channels} channels")
    samples = np.concatenate([frame.to_ndarray() for frame in frames], axis=1).reshape(-1)  # each (1, n)
    if samples.dtype.kind == "i":  # FFmpeg maps float to int16 as round(x * 2**15)
        samples = samples / 2.0 ** (8 * samples.dtype.itemsize - 1)
    return _resample(samples.astype(np.float64), decoded_rate, rate)


def round_trip(x: np.ndarray, rate: int, setting: CodecSetting) -> tuple[np.ndarray, int]:
    """`x` (float, at `rate`, a rate the encoder takes) encoded and decoded, delay not removed,
    and the size of the encoded stream in bytes."""
    av = _av()
    encoder, decoder = _open_pair(setting, rate)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[None, :], dtype=np.float32), format="fltp", layout="mono")
    frame.sample_rate = rate
    frame.pts = 0
    try:  # PyAV converts the frame to the encoder's sample format and frame size
        packets = list(encoder.encode(frame)) + list(encoder.encode(None))
        decoded = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    except (av.FFmpegError, ValueError) as error:
        raise AugmentError(f"codec {setting.encoder}: {error}") from error
    return _frames_to_mono(decoded, setting, rate), sum(p.size for p in packets)


def _through_line(x: np.ndarray, sample_rate: int, setting: CodecSetting) -> tuple[np.ndarray, int]:
    """The whole trip: to the codec's rate, round trip, back to the clip's rate."""
    codec_rate = _encoder_rate(setting, sample_rate)
    padded = np.concatenate([x, np.zeros(int(TAIL_PAD_S * sample_rate))])
    line = _resample(padded, sample_rate, codec_rate)
    decoded, encoded_bytes = round_trip(line, codec_rate, setting)
    return _resample(decoded, codec_rate, sample_rate), encoded_bytes


@dataclass(frozen=True)
class Calibration:
    delay: int  # samples at the clip's rate by which the trip delays audio
    kbps: float  # the bitrate the encoder actually produced


@lru_cache(maxsize=64)
def calibrate(setting: CodecSetting, sample_rate: int) -> Calibration:
    """One trip of a fixed noise burst: the setting's delay (the lag of the peak of its
    cross-correlation with the burst) and its real bitrate. An encoder that quietly gives a
    bitrate far from the one asked (LAME caps MPEG-2 MP3 at 160 kbit/s) is refused."""
    burst = np.random.default_rng(0).standard_normal(int(CALIBRATION_SECONDS * sample_rate)) * 0.1
    burst *= signal.windows.tukey(len(burst), 0.1)
    out, encoded_bytes = _through_line(burst, sample_rate, setting)
    correlation = signal.correlate(out, burst, mode="full", method="fft")
    lags = signal.correlation_lags(len(out), len(burst), mode="full")
    window = (lags >= 0) & (lags <= MAX_DELAY_S * sample_rate)
    lag = int(lags[window][np.argmax(correlation[window])])
    peak = correlation[window].max() / (np.linalg.norm(out) * np.linalg.norm(burst) + 1e-12)
    if peak < 0.3:
        raise AugmentError(f"codec {setting.encoder}: cannot find its delay (correlation {peak:.2f})")
    kbps = encoded_bytes * 8 / (len(out) / sample_rate) / 1000
    if setting.bit_rate and not BITRATE_TOLERANCE[0] <= kbps * 1000 / setting.bit_rate <= BITRATE_TOLERANCE[1]:
        rate = _encoder_rate(setting, sample_rate)
        asked = setting.bit_rate / 1000
        raise AugmentError(f"codec {setting.encoder}: asked for {asked:g} kbit/s at {rate} Hz, it gives {kbps:.0f}")
    return Calibration(lag, round(kbps, 1))


def apply_codec(wave: np.ndarray, sample_rate: int, rng: np.random.Generator, setting: CodecSetting):
    """The recipe: `rng` is not used (a codec draws nothing), the params say what was run."""
    x = as_mono_float32(wave, sample_rate).astype(np.float64)
    calibration = calibrate(setting, sample_rate)
    delay = calibration.delay
    out = _through_line(x, sample_rate, setting)[0][delay : delay + len(x)]
    if len(out) < len(x):
        raise AugmentError(f"codec {setting.encoder}: decoded {len(out)} of {len(x)} samples")
    params = {
        "codec": setting.encoder,
        "bit_rate": setting.bit_rate,
        "encoder_kbps": calibration.kbps,
        "codec_rate": _encoder_rate(setting, sample_rate),
        "delay_removed": delay,
        "clipped_samples": int(np.count_nonzero(np.abs(x) > 1)),
    }
    return out.astype(np.float32), params


def lossy_recipe(label: str, kbps: int) -> Recipe:
    if label not in LOSSY:
        raise InputError(f"unknown codec {label!r}; known: {', '.join(LOSSY)}")
    encoder, decoder = LOSSY[label]
    setting = CodecSetting(label, encoder, decoder, int(kbps) * 1000)
    return Recipe(
        name=f"{label}-{kbps}k",
        apply=partial(apply_codec, setting=setting),
        description=f"{label.upper()} at {kbps} kbit/s through FFmpeg's {encoder} (PyAV), aligned",
    )


def telephony_recipe(name: str) -> Recipe:
    setting = TELEPHONY[name]
    return Recipe(
        name=name,
        apply=partial(apply_codec, setting=setting),
        description=f"{setting.label} through {setting.rate} Hz as on a telephone line (PyAV {setting.encoder})",
    )

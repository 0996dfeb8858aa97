"""RawBoost (Tak, Kamble, Patino, Todisco, Evans, ICASSP 2022): three noise processes and the
series/parallel combinations SSL_Anti-spoofing numbers `--algo` 1-8, with that repository's
default parameters (`RAWBOOST_DEFAULTS`).

1. Linear and non-linear convolutive noise (LnL): the sum over j = 1..N_f of x**j, each power
   filtered by its own multi-band notch filter g_j; g_1 has gain G drawn from [minG, maxG] dB,
   the higher orders from [minG - minBias, maxG - maxBias] dB; the sum is mean-removed and
   scaled down if its peak exceeds 1.
2. Impulsive signal-dependent additive noise (ISD): a share beta ~ U[0, P] % of the samples,
   chosen at random, becomes x + g_sd * x * f with f the product of two U[-1, 1] draws.
3. Stationary signal-independent additive noise (SSI): white Gaussian noise coloured by a
   multi-band notch filter, added at an SNR drawn from [SNRmin, SNRmax] dB.

A multi-band notch filter is the convolution of nBands band-stop FIR filters (scipy's `firwin`,
Hamming window), band k with centre fc ~ U[minF, maxF] Hz, width bw ~ U[minBW, maxBW] Hz and a
number of taps ~ U{minCoeff..maxCoeff - 1} made odd (11..99 by default, as in the reference
code), scaled so its peak gain is G dB. Filtering removes the filter's exact linear-phase delay,
(taps - 1) / 2 samples, so the output stays aligned (the reference code's `filterFIR` shifts by
one sample more). Above 16 kHz the default maxF, 8000 Hz, leaves the top band untouched; below
it, maxF is clipped to the Nyquist frequency.

Drawn values are rounded (0.1 Hz, 0.01 dB, 0.001 %) before use, so the params each copy
records are exactly the ones that made it."""

from functools import partial

import numpy as np
from scipy import signal

from deepfake_pipeline.augment.base import AugmentError, Recipe, as_mono_float32

RAWBOOST_DEFAULTS = {
    "nBands": 5,
    "minF": 20.0,
    "maxF": 8000.0,
    "minBW": 100.0,
    "maxBW": 1000.0,
    "minCoeff": 10,
    "maxCoeff": 100,
    "minG": 0.0,
    "maxG": 0.0,
    "minBiasLinNonLin": 5.0,
    "maxBiasLinNonLin": 20.0,
    "N_f": 5,
    "P": 10.0,
    "g_sd": 2.0,
    "SNRmin": 10.0,
    "SNRmax": 40.0,
}

# SSL_Anti-spoofing's --algo: which processes, and whether they run in series or in parallel.
ALGORITHMS = {
    1: ("series", ("lnl",)),
    2: ("series", ("isd",)),
    3: ("series", ("ssi",)),
    4: ("series", ("lnl", "isd", "ssi")),
    5: ("series", ("lnl", "isd")),
    6: ("series", ("lnl", "ssi")),
    7: ("series", ("isd", "ssi")),
    8: ("parallel", ("lnl", "isd")),
}


def within_unit_peak(x: np.ndarray) -> np.ndarray:
    """Scaled down to peak 1 when its peak exceeds 1, else unchanged (RawBoost's normWav(x, 0))."""
    peak = float(np.max(np.abs(x)))
    return x / peak if peak > 1 else x


def notch_filter(rng: np.random.Generator, fs: int, gain_db_range: tuple, p: dict) -> tuple[np.ndarray, dict]:
    """A multi-band notch filter drawn from `rng`: its taps and what was drawn (bands as
    [fc, bw, taps] and the peak gain in dB). Bands are clipped inside (0, fs/2)."""
    nyquist = fs / 2
    taps_all = np.ones(1)
    bands = []
    for _ in range(int(p["nBands"])):
        fc = round(float(rng.uniform(p["minF"], min(p["maxF"], nyquist))), 1)
        bw = round(float(rng.uniform(p["minBW"], p["maxBW"])), 1)
        taps = int(rng.integers(int(p["minCoeff"]), int(p["maxCoeff"]))) | 1  # odd: an integer delay
        low = max(fc - bw / 2, 1e-3)
        high = min(fc + bw / 2, nyquist - 1e-3)
        if not low < high:
            raise AugmentError(f"RawBoost notch band {low:.1f}-{high:.1f} Hz is empty at {fs} Hz")
        taps_all = np.convolve(signal.firwin(taps, [low, high], window="hamming", fs=fs), taps_all)
        bands.append([fc, bw, taps])
    gain_db = round(float(rng.uniform(*sorted(gain_db_range))), 2)
    _, response = signal.freqz(taps_all, 1, worN=4096)
    taps_all = 10 ** (gain_db / 20) * taps_all / np.max(np.abs(response))
    return taps_all, {"bands": bands, "gain_db": gain_db}


def filter_aligned(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """`x` through the linear-phase FIR `taps` (odd length), delay removed, same length."""
    delay = (len(taps) - 1) // 2
    return signal.oaconvolve(x, taps, mode="full")[delay : delay + len(x)]


def lnl_convolutive(x: np.ndarray, fs: int, rng: np.random.Generator, p: dict) -> tuple[np.ndarray, dict]:
    y = np.zeros_like(x)
    filters = []
    power = x  # x ** order, by products: a float power costs several times a multiply
    for order in range(1, int(p["N_f"]) + 1):
        gains = (p["minG"], p["maxG"])
        if order > 1:
            gains = (p["minG"] - p["minBiasLinNonLin"], p["maxG"] - p["maxBiasLinNonLin"])
            power = power * x
        taps, drawn = notch_filter(rng, fs, gains, p)
        y = y + filter_aligned(power, taps)
        filters.append(drawn)
    y = within_unit_peak(y - np.mean(y))
    return y, {"filters": filters}


def isd_impulsive(x: np.ndarray, fs: int, rng: np.random.Generator, p: dict) -> tuple[np.ndarray, dict]:
    share_pct = round(float(rng.uniform(0, p["P"])), 3)
    count = int(len(x) * share_pct / 100)
    where = rng.permutation(len(x))[:count]
    factor = (2 * rng.random(count) - 1) * (2 * rng.random(count) - 1)
    y = x.copy()
    y[where] = x[where] + p["g_sd"] * x[where] * factor
    return within_unit_peak(y), {"share_pct": share_pct, "samples": count}


def ssi_stationary(x: np.ndarray, fs: int, rng: np.random.Generator, p: dict) -> tuple[np.ndarray, dict]:
    noise = rng.standard_normal(len(x))
    taps, drawn = notch_filter(rng, fs, (p["minG"], p["maxG"]), p)
    noise = filter_aligned(noise, taps)
    snr_db = round(float(rng.uniform(p["SNRmin"], p["SNRmax"])), 2)
    signal_norm, noise_norm = np.linalg.norm(x), np.linalg.norm(noise)
    if signal_norm == 0 or noise_norm == 0:
        raise AugmentError("RawBoost SSI: an SNR is undefined on a silent clip")
    noise = noise * (signal_norm / noise_norm / 10 ** (snr_db / 20))
    return x + noise, {"snr_db": snr_db, "filter": drawn}


PROCESSES = {"lnl": lnl_convolutive, "isd": isd_impulsive, "ssi": ssi_stationary}


def apply_rawboost(
    wave: np.ndarray, fs: int, rng: np.random.Generator, algo: int, p: dict = RAWBOOST_DEFAULTS
) -> tuple[np.ndarray, dict]:
    x = as_mono_float32(wave, fs).astype(np.float64)
    mode, steps = ALGORITHMS[algo]
    params: dict = {"algo": algo}
    if mode == "series":
        for step in steps:
            x, params[step] = PROCESSES[step](x, fs, rng, p)
    else:
        total = np.zeros_like(x)
        for step in steps:
            part, params[step] = PROCESSES[step](x, fs, rng, p)
            total += part
        x = within_unit_peak(total)
    return x.astype(np.float32), params


def rawboost_recipe(algo: int) -> Recipe:
    mode, steps = ALGORITHMS[algo]
    joined = (" then " if mode == "series" else " plus ").join(s.upper() for s in steps)
    return Recipe(
        name=f"rawboost{algo}",
        apply=partial(apply_rawboost, algo=algo),
        description=f"RawBoost algorithm {algo}: {joined} (Tak et al. 2022, SSL_Anti-spoofing defaults)",
    )

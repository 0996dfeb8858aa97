"""RawBoost against its definitions (Tak et al., ICASSP 2022): the stationary noise's SNR is the
drawn one, the impulsive noise touches the drawn share of samples and no more, the notch filters
stop the drawn bands, and a draw is a function of its generator alone."""

import json

import numpy as np
import pytest
from audio_factory import voiced
from scipy import signal

from deepfake_pipeline.augment import rawboost
from deepfake_pipeline.augment.rawboost import RAWBOOST_DEFAULTS

SR = 16000


def gen(seed):
    return np.random.default_rng(seed)


def test_the_algorithms_are_the_reference_combinations():
    # SSL_Anti-spoofing's --algo, from its data_utils_SSL.py: 4 = 1+2+3 in series, 5 = 1+2,
    # 6 = 1+3, 7 = 2+3, 8 = 1 and 2 in parallel
    expected = {
        1: ("series", ("lnl",)),
        2: ("series", ("isd",)),
        3: ("series", ("ssi",)),
        4: ("series", ("lnl", "isd", "ssi")),
        5: ("series", ("lnl", "isd")),
        6: ("series", ("lnl", "ssi")),
        7: ("series", ("isd", "ssi")),
        8: ("parallel", ("lnl", "isd")),
    }
    assert rawboost.ALGORITHMS == expected


@pytest.mark.parametrize("seed", range(6))
def test_stationary_noise_is_added_at_the_drawn_snr(seed):
    x = voiced(1.0, SR, seed=seed)
    y, params = rawboost.apply_rawboost(x, SR, gen(seed), algo=3)
    snr_drawn = params["ssi"]["snr_db"]
    noise = y.astype(np.float64) - x.astype(np.float64)
    achieved = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(noise**2))
    assert RAWBOOST_DEFAULTS["SNRmin"] <= snr_drawn <= RAWBOOST_DEFAULTS["SNRmax"]
    assert achieved == pytest.approx(snr_drawn, abs=0.01)


def test_stationary_noise_is_coloured_by_its_notches():
    # one wide, sharp notch: the added noise has (almost) no energy inside the drawn band
    p = {**RAWBOOST_DEFAULTS, "nBands": 1, "minBW": 2000.0, "maxBW": 2000.0, "minCoeff": 301, "maxCoeff": 302}
    x = voiced(2.0, SR, seed=3)
    y, params = rawboost.ssi_stationary(x.astype(np.float64), SR, gen(1), p)
    fc, bw, _ = params["filter"]["bands"][0]
    freqs, power = signal.welch(y - x, fs=SR, nperseg=1024)
    inside = (freqs > fc - bw / 4) & (freqs < fc + bw / 4)
    outside = (np.abs(freqs - fc) > bw) & (freqs > 100) & (freqs < SR / 2 - 100)
    assert power[inside].mean() < 1e-3 * power[outside].mean()


def test_impulsive_noise_touches_at_most_the_drawn_share():
    x = 0.5 * voiced(1.0, SR, seed=4) / np.abs(voiced(1.0, SR, seed=4)).max() * 0.3  # peak 0.15: no rescale
    x = x.astype(np.float32)
    for seed in range(5):
        y, params = rawboost.apply_rawboost(x, SR, gen(seed), algo=2)
        share = params["isd"]["share_pct"]
        touched = np.flatnonzero(y != x)
        assert 0 <= share <= RAWBOOST_DEFAULTS["P"]
        assert len(touched) <= int(len(x) * share / 100)
        assert len(touched) >= 0.95 * int(len(x) * share / 100)  # a factor of exactly 0 is rare
        # y = x + g_sd * x * f with |f| <= 1
        excess = np.abs(y[touched].astype(np.float64) - x[touched]) - RAWBOOST_DEFAULTS["g_sd"] * np.abs(x[touched])
        assert excess.max() <= 1e-6


def test_a_notch_filter_stops_its_drawn_band_at_its_drawn_edges():
    # firwin places a band-stop edge where the gain is half the passband's: check that with freqz
    p = {**RAWBOOST_DEFAULTS, "nBands": 1, "minF": 2000.0, "maxF": 6000.0, "minCoeff": 401, "maxCoeff": 402}
    p.update(minBW=1000.0, maxBW=1000.0)
    for seed in range(4):
        taps, drawn = rawboost.notch_filter(gen(seed), SR, (-6.0, -6.0), p)
        fc, bw, n_taps = drawn["bands"][0]
        peak = 10 ** (drawn["gain_db"] / 20)
        _, (at_low, at_centre, at_high) = signal.freqz(taps, 1, worN=[fc - bw / 2, fc, fc + bw / 2], fs=SR)
        assert n_taps == 401 and len(taps) == 401
        assert drawn["gain_db"] == -6.0
        assert abs(at_low) == pytest.approx(peak / 2, rel=0.05)
        assert abs(at_high) == pytest.approx(peak / 2, rel=0.05)
        assert abs(at_centre) < 0.01 * peak
        _, dense = signal.freqz(taps, 1, worN=8192, fs=SR)
        assert np.abs(dense).max() == pytest.approx(peak, rel=1e-3)


def test_a_multi_band_filter_stops_every_drawn_band():
    p = {**RAWBOOST_DEFAULTS, "minBW": 600.0, "minCoeff": 301, "maxCoeff": 302}
    taps, drawn = rawboost.notch_filter(gen(7), SR, (0.0, 0.0), p)
    centres = [fc for fc, _, _ in drawn["bands"]]
    assert len(centres) == 5 and all(20 <= fc <= 8000 for fc in centres)
    _, at_centres = signal.freqz(taps, 1, worN=np.clip(centres, 1, SR / 2 - 1), fs=SR)
    assert np.all(np.abs(at_centres) < 0.02)


def test_linear_convolutive_noise_is_the_drawn_filter_applied_without_delay():
    # N_f = 1: y = x filtered by g_1, mean removed; rebuilt here from the recorded bands
    p = {**RAWBOOST_DEFAULTS, "N_f": 1}
    x = voiced(1.0, SR, seed=5).astype(np.float64)
    y, params = rawboost.lnl_convolutive(x, SR, gen(2), p)
    (drawn,) = params["filters"]
    taps = np.ones(1)
    for fc, bw, n_taps in drawn["bands"]:
        edges = [max(fc - bw / 2, 1e-3), min(fc + bw / 2, SR / 2 - 1e-3)]
        taps = np.convolve(taps, signal.firwin(n_taps, edges, window="hamming", fs=SR))
    delay = (len(taps) - 1) // 2
    expected = signal.lfilter(taps, 1, np.concatenate([x, np.zeros(delay)]))[delay:]
    expected -= expected.mean()
    # the recipe's scale is the filter's peak gain; compare the shapes, and the scale through it
    cosine = np.dot(y, expected) / (np.linalg.norm(y) * np.linalg.norm(expected))
    assert cosine > 1 - 1e-9
    _, response = signal.freqz(taps, 1, worN=8192)
    assert np.linalg.norm(y) / np.linalg.norm(expected) == pytest.approx(1 / np.abs(response).max(), rel=1e-3)


def test_non_linear_orders_are_attenuated_by_the_bias():
    _, params = rawboost.apply_rawboost(voiced(0.5, SR, seed=1), SR, gen(3), algo=1)
    gains = [f["gain_db"] for f in params["lnl"]["filters"]]
    assert len(gains) == RAWBOOST_DEFAULTS["N_f"]
    assert gains[0] == 0.0
    assert all(-20.0 <= g <= -5.0 for g in gains[1:])


@pytest.mark.parametrize("algo", range(1, 9))
def test_each_algorithm_is_a_function_of_its_generator(algo):
    x = voiced(0.5, SR, seed=algo)
    first, params = rawboost.apply_rawboost(x, SR, gen(11), algo=algo)
    again, params_again = rawboost.apply_rawboost(x, SR, gen(11), algo=algo)
    other, _ = rawboost.apply_rawboost(x, SR, gen(12), algo=algo)
    assert first.dtype == np.float32 and first.shape == x.shape
    assert first.tobytes() == again.tobytes() and params == params_again
    assert first.tobytes() != other.tobytes()
    assert not np.array_equal(first, x)
    assert json.loads(json.dumps(params)) == params


def test_parallel_output_is_kept_within_unit_peak():
    x = (0.99 * voiced(0.5, SR, seed=9) / np.abs(voiced(0.5, SR, seed=9)).max()).astype(np.float32)
    y, _ = rawboost.apply_rawboost(x, SR, gen(0), algo=8)
    assert np.abs(y).max() <= 1.0 + 1e-6


def test_the_defaults_are_the_reference_defaults():
    # SSL_Anti-spoofing main_SSL_LA.py's argparse defaults
    assert RAWBOOST_DEFAULTS == {
        "nBands": 5, "minF": 20, "maxF": 8000, "minBW": 100, "maxBW": 1000, "minCoeff": 10,
        "maxCoeff": 100, "minG": 0, "maxG": 0, "minBiasLinNonLin": 5, "maxBiasLinNonLin": 20,
        "N_f": 5, "P": 10, "g_sd": 2, "SNRmin": 10, "SNRmax": 40,
    }  # fmt: skip


def test_below_16_khz_the_bands_stay_under_nyquist():
    # maxF 8000 Hz is the Nyquist frequency at 16 kHz; an 8 kHz clip clips it to 4000 Hz
    y, params = rawboost.apply_rawboost(voiced(0.5, 8000, seed=2), 8000, gen(4), algo=6)
    centres = [fc for f in params["lnl"]["filters"] + [params["ssi"]["filter"]] for fc, _, _ in f["bands"]]
    assert len(centres) == 30 and max(centres) <= 4000
    assert np.isfinite(y).all() and len(y) == 4000

"""Small audio files for the step-1 tests, written on the fly."""

from pathlib import Path

import numpy as np
import soundfile as sf


def voiced(seconds=1.0, sr=16000, f0=140.0, seed=0, channels=1) -> np.ndarray:
    """A harmonic, amplitude-modulated tone with a little noise: speech-like enough to decode,
    resample and hash; distinct per seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in range(1, 8))
    wave *= 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    wave = 0.3 * wave / np.abs(wave).max() + 0.01 * rng.standard_normal(len(t))
    if channels > 1:
        wave = np.stack([wave * (1 - 0.1 * c) for c in range(channels)], axis=1)
    return wave.astype(np.float32)


def write_clip(path, seconds=1.0, sr=16000, seed=0, channels=1, subtype=None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, voiced(seconds, sr, seed=seed, channels=channels), sr, subtype=subtype)
    return path


def write_mp4(path, seconds=1.0, sr=44100, seed=0, channels=2) -> Path:
    """An mp4 with an AAC audio track (and no video), written in-process with PyAV."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = voiced(seconds, sr, seed=seed, channels=channels).reshape(-1, channels)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sr, layout="stereo" if channels == 2 else "mono")
        for start in range(0, len(samples), 1024):
            block = np.ascontiguousarray(samples[start : start + 1024].T)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=stream.layout.name)
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_asvspoof_layout(root, splits=("dev",), per_split=6, extra_level=False, seed=0) -> dict:
    """A tiny corpus in the ASVspoof 2019 LA layout; returns {split: [protocol lines]}."""
    root = Path(root)
    la = root / "LA" / "LA" if extra_level else root / "LA"
    prefix = {"train": "T", "dev": "D", "eval": "E"}
    protocols = {}
    for s_index, split in enumerate(splits):
        flac_dir = la / f"ASVspoof2019_LA_{split}" / "flac"
        lines = []
        for i in range(per_split):
            utt = f"LA_{prefix[split]}_{1000000 + i}"
            key = "bonafide" if i % 3 == 0 else "spoof"
            attack = "-" if key == "bonafide" else f"A0{1 + i % 2}"
            lines.append(f"LA_00{10 + i % 2} {utt} - {attack} {key}")
            write_clip(flac_dir / f"{utt}.flac", seconds=0.5 + 0.1 * i, seed=seed + 100 * s_index + i)
        write_clip(flac_dir / "LA_E_9999999_enrolment.flac", seed=999)  # not in the protocol
        names = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}
        protocol = la / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{names[split]}.txt"
        protocol.parent.mkdir(parents=True, exist_ok=True)
        protocol.write_text("\n".join(lines) + "\n")
        protocols[split] = lines
    return protocols

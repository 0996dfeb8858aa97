"""The ASVspoof 2019 LA part of the demo corpus: which clips exist (speakers, attacks, durations,
silences, levels), drawn from the seed without rendering audio, and the writer that renders them
into ``LA/ASVspoof2019_LA_{train,dev,eval}/flac/``, the three CM protocol files and the dev and
eval ASV score files (``LA/ASVspoof2019_LA_asv_scores/``) that the t-DCF needs.

Speakers are disjoint across splits and numbered as in the real corpus. Train and dev use
attacks A01-A04; eval keeps two of them and adds A05 and A06, which training never sees, as the
real eval set does. Duration, leading and trailing silence, loudness and noise floor are drawn
from the same stratified distributions for both classes, so none of them is a shortcut to the
label. Each split folder also holds a few flac files its protocol does not list, like the real
corpus's enrolment files, so readers must iterate the protocol, not the folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from joblib import Parallel, delayed

from deepfake_pipeline.common.numba_cache import warm_before_workers
from deepfake_pipeline.common.progress import Progress
from deepfake_pipeline.demo.attacks import synthesize_clip, warm_numba_kernels
from deepfake_pipeline.demo.speech import SAMPLE_RATE, Voice, random_voice

# split -> (bona fide clips, spoofed clips): about a third bona fide, and small enough that the
# whole pipeline runs in minutes on 2 CPU cores.
DEFAULT_SIZES = {"train": (40, 80), "dev": (28, 52), "eval": (36, 64)}
SPLIT_ATTACKS = {
    "train": ("A01", "A02", "A03", "A04"),
    "dev": ("A01", "A02", "A03", "A04"),
    "eval": ("A02", "A04", "A05", "A06"),
}
# Disjoint speaker sets, numbered as in the real corpus (train 79-98, dev 69-78, eval 1-68).
SPLIT_SPEAKERS = {
    "train": tuple(range(79, 99)),
    "dev": tuple(range(69, 79)),
    "eval": tuple(range(1, 21)),
}
SPLIT_CODES = {"train": "T", "dev": "D", "eval": "E"}
PROTOCOL_NAMES = {
    "train": "ASVspoof2019.LA.cm.train.trn.txt",
    "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
    "eval": "ASVspoof2019.LA.cm.eval.trl.txt",
}
EXTRA_FILES_PER_SPLIT = 2  # flac files not in the protocol, like the real enrolment files

CLIP_SECONDS = (1.0, 4.0)
SILENCE_SECONDS = (0.05, 0.35)  # leading and trailing, drawn separately
LEVEL_DBFS = (-32.0, -24.0)  # RMS of the speech part
NOISE_DBFS = (-72.0, -60.0)


@dataclass(frozen=True)
class PlannedClip:
    """One clip of the ASVspoof part, everything needed to render it."""

    split: str
    utt_id: str
    speaker: str
    attack: str  # "-" for bona fide
    key: str  # "bonafide" or "spoof"
    speech_s: float
    lead_s: float
    trail_s: float
    level_dbfs: float
    noise_dbfs: float
    seed: int
    in_protocol: bool

    @property
    def duration_s(self) -> float:
        return self.speech_s + self.lead_s + self.trail_s


def stratified_uniform(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    """n draws from U(low, high), one in each of n equal strata, shuffled: two classes drawn
    this way have near-identical empirical distributions even at a few dozen clips."""
    return low + (high - low) * (rng.permutation(n) + rng.random(n)) / n


def speaker_voice(seed: int, speaker_number: int) -> Voice:
    """The voice of speaker LA_<number>. Odd and even numbers alternate between female and male
    voices, so every split is balanced by sex and one split's voices are not higher-pitched
    than another's by chance."""
    return random_voice(np.random.default_rng([seed, 1, speaker_number]), female=speaker_number % 2 == 1)


def _unique_numbers(rng: np.random.Generator, count: int, taken: set[int]) -> list[int]:
    numbers: list[int] = []
    while len(numbers) < count:
        candidate = int(rng.integers(1_000_000, 10_000_000))
        if candidate not in taken:
            taken.add(candidate)
            numbers.append(candidate)
    return numbers


def check_sizes(sizes: dict[str, tuple[int, int]]) -> None:
    if set(sizes) != set(SPLIT_ATTACKS):
        raise ValueError(f"sizes must name exactly the splits {sorted(SPLIT_ATTACKS)}, got {sorted(sizes)}")
    for split, (bonafide, spoof) in sizes.items():
        if bonafide < 1 or spoof < len(SPLIT_ATTACKS[split]):
            raise ValueError(
                f"split {split!r} needs at least 1 bona fide clip and one spoof per attack "
                f"({len(SPLIT_ATTACKS[split])}), got {(bonafide, spoof)}"
            )


def plan_asvspoof(seed: int = 0, sizes: dict[str, tuple[int, int]] | None = None) -> list[PlannedClip]:
    """Every clip of the ASVspoof part, protocol clips and extra files, without rendering audio."""
    sizes = dict(DEFAULT_SIZES if sizes is None else sizes)
    check_sizes(sizes)
    rng = np.random.default_rng([seed, 0])
    plan: list[PlannedClip] = []
    taken: set[int] = set()
    for split in ("train", "dev", "eval"):
        n_bonafide, n_spoof = sizes[split]
        speakers = SPLIT_SPEAKERS[split]
        attacks = SPLIT_ATTACKS[split]
        groups = [("-", n_bonafide, True), ("-", EXTRA_FILES_PER_SPLIT, False), ("spoof", n_spoof, True)]
        for attack_kind, count, in_protocol in groups:
            durations = stratified_uniform(rng, count, *CLIP_SECONDS)
            leads = stratified_uniform(rng, count, *SILENCE_SECONDS)
            trails = stratified_uniform(rng, count, *SILENCE_SECONDS)
            levels = stratified_uniform(rng, count, *LEVEL_DBFS)
            noises = stratified_uniform(rng, count, *NOISE_DBFS)
            numbers = _unique_numbers(rng, count, taken)
            # Every speaker gets about as many clips of each kind, in an order unrelated to the attack.
            clip_speakers = rng.permutation(np.resize(np.array(speakers), count))
            for i in range(count):
                attack = attacks[i % len(attacks)] if attack_kind == "spoof" else "-"
                plan.append(
                    PlannedClip(
                        split=split,
                        utt_id=f"LA_{SPLIT_CODES[split]}_{numbers[i]}",
                        speaker=f"LA_{int(clip_speakers[i]):04d}",
                        attack=attack,
                        key="bonafide" if attack == "-" else "spoof",
                        speech_s=float(durations[i] - leads[i] - trails[i]),
                        lead_s=float(leads[i]),
                        trail_s=float(trails[i]),
                        level_dbfs=float(levels[i]),
                        noise_dbfs=float(noises[i]),
                        seed=int(rng.integers(2**63)),
                        in_protocol=in_protocol,
                    )
                )
    return plan


def protocol_lines(plan: list[PlannedClip], split: str) -> list[str]:
    """The split's protocol in the real files' order: bona fide by speaker, then spoofs by
    attack and speaker."""
    rows = [c for c in plan if c.split == split and c.in_protocol]
    rows.sort(key=lambda c: (c.key != "bonafide", c.attack, c.speaker, c.utt_id))
    return [f"{c.speaker} {c.utt_id} - {c.attack} {c.key}" for c in rows]


# The organisers' ASV system scored its own trials (target, nontarget and spoofed speakers), not
# the CM trials; the t-DCF needs only its score distributions. The demo draws them: targets well
# above nontargets, and each attack's spoofs somewhere between, so some attacks fool the ASV more.
ASV_TRIALS = {"target": 120, "nontarget": 480}
ASV_SPOOF_PER_ATTACK = 60
ASV_SCORE_NAMES = {
    "dev": "ASVspoof2019.LA.asv.dev.gi.trl.scores.txt",
    "eval": "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt",
}


def asv_score_lines(split: str, seed: int) -> list[str]:
    """The split's ASV score file in the 2019 layout: `CM_KEY ASV_KEY SCORE` per trial."""
    rng = np.random.default_rng([seed, 2, ("dev", "eval").index(split)])
    lines = [f"bonafide target {x:.6f}" for x in rng.normal(4.0, 1.5, ASV_TRIALS["target"])]
    lines += [f"bonafide nontarget {x:.6f}" for x in rng.normal(-4.0, 1.5, ASV_TRIALS["nontarget"])]
    for attack in SPLIT_ATTACKS[split]:
        mean = rng.uniform(-2.0, 3.0)
        lines += [f"{attack} spoof {x:.6f}" for x in rng.normal(mean, 1.5, ASV_SPOOF_PER_ATTACK)]
    return lines


def render_clip(clip: PlannedClip, seed: int) -> np.ndarray:
    """The clip as 16 kHz int16 samples; ``seed`` is the corpus seed that picks the voices."""
    voice = speaker_voice(seed, int(clip.speaker[3:]))
    return synthesize_clip(
        voice, clip.attack, clip.speech_s, clip.lead_s, clip.trail_s, clip.level_dbfs, clip.noise_dbfs, clip.seed
    )


def write_asvspoof(root: Path, plan: list[PlannedClip], seed: int, jobs: int = 1) -> dict:
    """Render every planned clip and write the flac files and protocols under ``root``; return
    counts per split."""
    la = root / "LA"
    warm_before_workers(warm_numba_kernels)  # workers then only read numba's cache
    # In plan order (an ordered generator), each clip written as it arrives, with progress lines.
    progress = Progress("demo asvspoof", len(plan))
    audio = Parallel(n_jobs=jobs, return_as="generator")(delayed(render_clip)(clip, seed) for clip in plan)
    for clip, samples in zip(plan, audio, strict=True):
        folder = la / f"ASVspoof2019_LA_{clip.split}" / "flac"
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"{clip.utt_id}.flac", samples, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        progress.update(1, audio_seconds=len(samples) / SAMPLE_RATE)
    protocols = la / "ASVspoof2019_LA_cm_protocols"
    protocols.mkdir(parents=True, exist_ok=True)
    summary = {}
    for split, name in PROTOCOL_NAMES.items():
        (protocols / name).write_text("\n".join(protocol_lines(plan, split)) + "\n")
        in_split = [c for c in plan if c.split == split]
        summary[split] = {
            "bonafide": sum(c.in_protocol and c.key == "bonafide" for c in in_split),
            "spoof": sum(c.in_protocol and c.key == "spoof" for c in in_split),
            "attacks": sorted({c.attack for c in in_split if c.attack != "-"}),
            "extra_files": sum(not c.in_protocol for c in in_split),
        }
    asv_scores = la / "ASVspoof2019_LA_asv_scores"
    asv_scores.mkdir(parents=True, exist_ok=True)
    for split, name in ASV_SCORE_NAMES.items():
        (asv_scores / name).write_text("\n".join(asv_score_lines(split, seed)) + "\n")
    return summary

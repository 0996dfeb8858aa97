"""The FakeAVCeleb v1.2 part of the demo corpus: tiny mp4 files written with PyAV in the real
folder layout (``FakeAVCeleb_v1.2/<type>/<race>/<gender>/<identity>/<file>.mp4``) and a
``meta_data.csv`` with the real file's 10-column header.

Per identity: its real clip (RealVideo-RealAudio), a cloned-voice version (RealVideo-FakeAudio,
``rtvc``), three face-swapped videos that keep the real audio (FakeVideo-RealAudio) and three that
also carry cloned audio (FakeVideo-FakeAudio), cloned the same way, as in the real corpus. As in
the real corpus, FakeVideo-RealAudio audio is the identity's real audio: it is encoded from the
very same samples, so it decodes to identical audio and a duplicate check by audio hash finds
it. Audio is AAC at 44.1 or 48 kHz, mono for some identities and stereo for others, so ingestion
has to resample and down-mix.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import av
import librosa
import numpy as np
from joblib import Parallel, delayed

from deepfake_pipeline.common.numba_cache import warm_before_workers
from deepfake_pipeline.common.progress import Progress
from deepfake_pipeline.demo.asvspoof import LEVEL_DBFS, NOISE_DBFS
from deepfake_pipeline.demo.attacks import ATTACKS, synthesize_clip, warm_numba_kernels
from deepfake_pipeline.demo.speech import SAMPLE_RATE, random_voice

# rtvc's cloned voice comes from a mel-spectrogram model: the demo's A02 stands in for it.
RTVC_STAND_IN = "A02"
META_COLUMNS = ["source", "target1", "target2", "method", "category", "type", "race", "gender", "filename", "path"]
RACES = ["African", "Asian (East)", "Asian (South)", "Caucasian (American)", "Caucasian (European)"]
VIDEO_SIZE = 32
VIDEO_FPS = 4
CLIP_SECONDS = (1.6, 2.4)


@dataclass(frozen=True)
class Identity:
    name: str  # e.g. id00076
    race: str
    gender: str  # "men" / "women"
    clip: str  # the real video's number, e.g. 00109
    sample_rate: int
    channels: int
    voice_seed: int


@dataclass(frozen=True)
class PlannedVideo:
    identity: Identity
    type: str
    method: str
    category: str
    target1: str
    target2: str
    filename: str
    audio_seed: int  # the seed whose audio this file carries (shared by real-audio copies)
    attack: str  # "-" for real audio
    video_seed: int

    @property
    def folder(self) -> str:
        i = self.identity
        return f"FakeAVCeleb_v1.2/{self.type}/{i.race}/{i.gender}/{i.name}"


def _youtube_like_id(rng: np.random.Generator) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(alphabet[k] for k in rng.integers(len(alphabet), size=11))


DEFAULT_FAKEAV_IDENTITIES = 12


def plan_fakeav(seed: int = 0, identities: int = DEFAULT_FAKEAV_IDENTITIES) -> list[PlannedVideo]:
    """Every video of the FakeAVCeleb part, eight per identity, without rendering anything."""
    rng = np.random.default_rng([seed, 2])
    numbers = rng.choice(np.arange(1, 10000), size=identities, replace=False)
    people = [
        Identity(
            name=f"id{n:05d}",
            race=RACES[k % len(RACES)],
            gender=("men", "women")[(k // 2) % 2],
            clip=f"{int(rng.integers(0, 1000)):05d}",
            sample_rate=(48000, 44100)[k % 2],
            channels=(1, 2, 2)[k % 3],
            voice_seed=int(rng.integers(2**63)),
        )
        for k, n in enumerate(numbers)
    ]
    fake_attacks = sorted(ATTACKS)
    plan = []
    for person in people:
        others = [p.name for p in people if p is not person]
        a, b, d = rng.choice(others, size=3, replace=len(others) < 3)
        c = person.clip
        yt = _youtube_like_id(rng)
        real_audio = int(rng.integers(2**63))

        def cloned() -> tuple[int, str]:
            # All of FakeAVCeleb's fake audio is cloned by rtvc (SV2TTS), whatever the video method;
            # the second draw is kept so the other clips stay as they were before this was fixed.
            seed = int(rng.integers(2**63))
            rng.integers(len(fake_attacks))
            return seed, RTVC_STAND_IN

        # (type, method, category, target1, target2, filename, (audio seed, attack)), after the
        # real file's naming.
        rows = [
            ("RealVideo-RealAudio", "real", "A", "-", "-", f"{c}.mp4", (real_audio, "-")),
            (
                "RealVideo-FakeAudio",
                "rtvc",
                "B",
                "fake.mp4",
                "-",
                f"{c}_fake.mp4",
                (int(rng.integers(2**63)), RTVC_STAND_IN),
            ),
            ("FakeVideo-RealAudio", "faceswap", "C", "1.mp4", "-", f"{c}_1.mp4", (real_audio, "-")),
            ("FakeVideo-RealAudio", "fsgan", "C", a, "-", f"{c}_{a}_{yt}.mp4", (real_audio, "-")),
            ("FakeVideo-RealAudio", "wav2lip", "C", b, "-", f"{c}_{b}_wavtolip.mp4", (real_audio, "-")),
            ("FakeVideo-FakeAudio", "wav2lip", "D", d, "-", f"{c}_{d}_wavtolip.mp4", cloned()),
            ("FakeVideo-FakeAudio", "faceswap-wav2lip", "D", "10", b, f"{c}_10_{b}_wavtolip.mp4", cloned()),
            ("FakeVideo-FakeAudio", "fsgan-wav2lip", "D", a, d, f"{c}_{a}_{yt}_{d}_wavtolip.mp4", cloned()),
        ]
        for type_, method, category, target1, target2, filename, (audio_seed, attack) in rows:
            plan.append(
                PlannedVideo(
                    person,
                    type_,
                    method,
                    category,
                    target1,
                    target2,
                    filename,
                    audio_seed,
                    attack,
                    video_seed=int(rng.integers(2**63)),
                )
            )
    return plan


def _audio(video: PlannedVideo) -> np.ndarray:
    """float32 (channels, samples) at the identity's rate. Duration and loudness are drawn from
    the audio seed alone, the same way for real and cloned audio."""
    person = video.identity
    rng = np.random.default_rng(video.audio_seed)
    duration = rng.uniform(*CLIP_SECONDS)
    lead, trail = rng.uniform(0.05, 0.3, size=2)
    female = person.gender == "women"
    voice = random_voice(np.random.default_rng(person.voice_seed), female=female)
    pcm = synthesize_clip(
        voice,
        video.attack,
        duration - lead - trail,
        lead,
        trail,
        level_dbfs=rng.uniform(*LEVEL_DBFS),
        noise_dbfs=rng.uniform(*NOISE_DBFS),
        seed=int(rng.integers(2**63)),
    )
    mono = librosa.resample(pcm / 32768.0, orig_sr=SAMPLE_RATE, target_sr=person.sample_rate).astype(np.float32)
    if person.channels == 1:
        return mono[None, :]
    # The second channel a little quieter, so a down-mix is not simply one of the channels.
    return np.stack([mono, 0.8 * mono])


def _frames(video: PlannedVideo, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(video.video_seed)
    base = rng.integers(40, 216, size=3)
    frames = []
    for k in range(count):
        image = np.broadcast_to(base, (VIDEO_SIZE, VIDEO_SIZE, 3)).copy()
        row = (4 * k) % VIDEO_SIZE
        image[row : row + 4] = 255 - base
        frames.append(image.astype(np.uint8))
    return frames


def write_mp4(path: Path, audio: np.ndarray, sample_rate: int, frames: list[np.ndarray]) -> None:
    """An mp4 with an mpeg4 video stream and an AAC audio stream, written to a temporary name
    and renamed into place. Single-threaded encoders keep the output byte-stable."""
    layout = "mono" if audio.shape[0] == 1 else "stereo"
    tmp = path.with_name(path.name + ".part")
    with av.open(str(tmp), mode="w", format="mp4") as container:
        video_stream = container.add_stream("mpeg4", rate=VIDEO_FPS)
        video_stream.width = video_stream.height = VIDEO_SIZE
        video_stream.pix_fmt = "yuv420p"
        video_stream.codec_context.thread_count = 1
        audio_stream = container.add_stream("aac", rate=sample_rate, layout=layout)
        audio_stream.bit_rate = 96000
        audio_stream.codec_context.thread_count = 1
        # The "fast" AAC coder is several times quicker than the default two-loop search and
        # just as deterministic; the codec's loss is the same for real and fake audio.
        audio_stream.codec_context.options = {"aac_coder": "fast"}
        for image in frames:
            container.mux(video_stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video_stream.encode())
        chunk = 4096
        for start in range(0, audio.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(audio[:, start : start + chunk]), format="fltp", layout=layout
            )
            frame.sample_rate = sample_rate
            frame.pts = start
            container.mux(audio_stream.encode(frame))
        container.mux(audio_stream.encode())
    os.replace(tmp, path)


def _write_video(root: Path, video: PlannedVideo, audio: np.ndarray) -> None:
    frames = _frames(video, int(np.ceil(audio.shape[1] / video.identity.sample_rate * VIDEO_FPS)))
    folder = root / video.folder
    folder.mkdir(parents=True, exist_ok=True)
    write_mp4(folder / video.filename, audio, video.identity.sample_rate, frames)


def write_fakeav(root: Path, seed: int, identities: int, jobs: int = 1) -> dict:
    """Write the mp4 files and meta_data.csv under ``root``; return counts."""
    plan = plan_fakeav(seed, identities)
    # Each distinct audio is rendered once; the real-audio copies reuse the very same samples.
    distinct: dict = {}
    for video in plan:
        distinct.setdefault((video.identity.name, video.audio_seed, video.attack), video)
    warm_before_workers(warm_numba_kernels)  # workers then only read numba's cache
    progress = Progress("demo fakeav audio", len(distinct), unit="tracks")
    rendered = {}
    for key, audio in zip(
        distinct,
        Parallel(n_jobs=jobs, return_as="generator")(delayed(_audio)(v) for v in distinct.values()),
        strict=True,
    ):
        rendered[key] = audio
        progress.update(1, audio_seconds=audio.shape[1] / distinct[key].identity.sample_rate)
    progress = Progress("demo fakeav mp4", len(plan), unit="files")
    for _ in Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(_write_video)(root, v, rendered[(v.identity.name, v.audio_seed, v.attack)]) for v in plan
    ):
        progress.update(1)
    meta = root / "FakeAVCeleb_v1.2" / "meta_data.csv"
    with open(meta, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(META_COLUMNS)
        for v in plan:
            i = v.identity
            writer.writerow(
                [i.name, v.target1, v.target2, v.method, v.category, v.type, i.race, i.gender, v.filename, v.folder]
            )
    by_type: dict[str, int] = {}
    for v in plan:
        by_type[v.type] = by_type.get(v.type, 0) + 1
    return {"identities": identities, "files": len(plan), "files_by_type": by_type}

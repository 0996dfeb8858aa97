"""`--config results/<run>/config.json` replays the run it describes and nothing else (issue 17):
a crafted config.json cannot switch eval_logreg.py to scoring clips (--score, --from-run), smuggle
in options through a value, or carry arguments the script does not have or values of the wrong
type; --config beside --score / --from-run is refused too. Each refusal is one `error:` line,
exit 2, before any work (no run folder, no `[replay]` lines). tests/cli/test_cli_basics.py checks
that a genuine replay gives the same numbers."""

import json

import pytest
from logreg_fixtures import balanced_design, informative, make_split

from deepfake_pipeline.cli import eval_logreg, train_contrastive
from deepfake_pipeline.cli.replay import replay_argv


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A finished tiny spectral run: (its folder, its config.json's content)."""
    root = tmp_path_factory.mktemp("replay")
    for i, split in enumerate(("toy_train", "toy_dev", "toy_eval")):
        labels, speakers = balanced_design(4, 6, seed=i)
        make_split(
            root / "interim",
            root / "processed",
            split,
            labels,
            speakers,
            seed=i,
            spectral=informative(labels, 15, [0, 3], seed=10 + i),
        )
    assert (
        eval_logreg.main(
            [
                "--features",
                "spectral",
                "--train",
                "toy_train",
                "--dev",
                "toy_dev",
                "--test",
                "toy_eval",
                "--run",
                "r",
                "--n-boot",
                "0",
                "--C-grid",
                "1",
                "--interim-dir",
                str(root / "interim"),
                "--processed-dir",
                str(root / "processed"),
                "--results-dir",
                str(root / "results"),
            ]
        )
        == 0
    )
    run = root / "results" / "r"
    return run, json.loads((run / "config.json").read_text())


def _crafted(tmp_path, content) -> str:
    path = tmp_path / "crafted" / "config.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def _refused(main, argv, capsys, results) -> str:
    """Exit 2 with one `error:` line and nothing else; no new run folder. Returns that line."""
    before = sorted(p.name for p in results.iterdir())
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert captured.out == ""
    assert sorted(p.name for p in results.iterdir()) == before
    return lines[0]


def _with_args(config, **changes):
    return {**config, "args": {**config["args"], **changes}}


@pytest.mark.parametrize(
    "changes,says",
    [
        ({"score": ["clip.wav"], "from_run": "RUN"}, "it records --score/--from-run, which no run records"),
        ({"from_run": "RUN"}, "it records --from-run, which no run records"),
        ({"score": ["clip.wav"]}, "it records --score, which no run records"),
        ({"bogus": 1}, "it records bogus, which is not an option of eval_logreg.py"),
        (
            {"baseline_run": "RUN", "epochs": 3},
            "it records baseline_run, epochs, which are not an option of eval_logreg.py",
        ),
        ({"seed": "three"}, "(argument --seed: invalid int value: 'three')"),
        ({"seed": 2.5}, "(argument --seed: invalid int value: '2.5')"),
        ({"C_grid": {"a": 1}}, "(argument --C-grid: invalid float value: \"{'a': 1}\")"),
        ({"allow_overlap": "yes"}, "its recorded --allow-overlap 'yes' does not read back as a value of that option"),
        ({"jobs": True}, "its recorded --jobs True does not read back as a value of that option"),
        ({"results_dir": None}, "its recorded --results-dir None does not read back as a value of that option"),
        ({"train": []}, "(argument --train: expected at least one argument)"),
        ({"train": "--score=clip.wav"}, "(argument --train: expected at least one argument)"),
        # one training split is recorded as itself, as every run before several existed did
        ({"train": ["toy_train"]}, "its recorded --train ['toy_train'] does not read back"),
        # a value that would read as more options: the scoring mode, smuggled in through --test
        (
            {"test": ["toy_eval", "--from-run", "RUN", "--score", "clip.wav"]},
            "its recorded --test ['toy_eval', '--from-run', 'RUN', '--score', 'clip.wav'] does not read back",
        ),
        ({"features": "pickles"}, "(argument --features: invalid choice: 'pickles'"),
    ],
)
def test_a_crafted_config_cannot_make_the_replay_do_something_else(recorded, tmp_path, capsys, changes, says):
    run, config = recorded
    changes = {
        k: [str(run) if v == "RUN" else v for v in value]
        if isinstance(value, list)
        else (str(run) if value == "RUN" else value)
        for k, value in changes.items()
    }
    path = _crafted(tmp_path, _with_args(config, **changes))
    line = _refused(eval_logreg.main, ["--config", path], capsys, run.parent)
    assert line.startswith(f"error: --config {path}: ") and says.replace("RUN", str(run)) in line, line
    assert "give the arguments themselves" in line or "without --config" in line


@pytest.mark.parametrize(
    "content,says",
    [
        ("[1, 2]", "not the config.json of a run (it holds no 'args' object)"),
        ({"args": ["--score", "clip.wav"]}, "not the config.json of a run (it holds no 'args' object)"),
        ({"seed": 0}, "not the config.json of a run (it holds no 'args' object)"),
        ('{"args": {', "not a readable config.json of a run"),
    ],
)
def test_a_file_that_is_not_a_runs_config_is_refused(recorded, tmp_path, capsys, content, says):
    run, _ = recorded
    path = _crafted(tmp_path, content)
    line = _refused(eval_logreg.main, ["--config", path], capsys, run.parent)
    assert says in line, line


def test_config_does_not_combine_with_score_or_from_run(recorded, tmp_path, capsys):
    run, _ = recorded
    config = str(run / "config.json")
    clip = str(tmp_path / "clip.wav")
    for extra, flags in (
        (["--score", clip], "--score"),
        (["--from-run", str(run)], "--from-run"),
        (["--score", clip, "--from-run", str(run)], "--score/--from-run"),
        (["--sco", clip], "--score"),
    ):  # argparse's abbreviations count too
        line = _refused(eval_logreg.main, ["--config", config, *extra], capsys, run.parent)
        assert line == (
            f"error: --config replays the run its config.json describes and does not combine with "
            f"{flags}: to score clips, give --score PATH --from-run results/<run> without --config"
        )


def test_config_given_twice_or_abbreviated_is_refused(recorded, capsys):
    run, _ = recorded
    config = str(run / "config.json")
    for argv in (["--config", config, "--config", config], ["--config", config, "--conf", config]):
        assert (
            _refused(eval_logreg.main, argv, capsys, run.parent)
            == "error: --config is given more than once: a replay reruns one run"
        )
    assert (
        _refused(eval_logreg.main, ["--conf", config], capsys, run.parent)
        == "error: write --config in full (--config PATH or --config=PATH) to replay a run"
    )
    assert (
        _refused(eval_logreg.main, ["--config"], capsys, run.parent)
        == "error: --config needs the path of a run's config.json (or of its folder)"
    )


def test_config_equals_path_and_a_folder_replay_the_same_arguments(recorded):
    run, config = recorded
    spaced, lines = replay_argv(eval_logreg.build_parser(), ["--config", str(run / "config.json")])
    assert lines and all(line.startswith("[replay] ") for line in lines)
    assert replay_argv(eval_logreg.build_parser(), [f"--config={run / 'config.json'}"])[0] == spaced
    assert replay_argv(eval_logreg.build_parser(), ["--config", str(run)])[0] == spaced
    parsed = vars(eval_logreg.build_parser().parse_args(spaced))
    for key in ("features", "train", "dev", "test", "C_grid", "n_boot", "seed", "score", "from_run"):
        assert parsed[key] == config["args"][key], key
    assert str(parsed["results_dir"]) == config["args"]["results_dir"]


def test_step3_config_is_not_replayed_by_step4(recorded, capsys):
    run, _ = recorded
    line = _refused(train_contrastive.main, ["--config", str(run / "config.json")], capsys, run.parent)
    assert "which are not an option of train_contrastive.py" in line and "features" in line and "C_grid" in line


def test_a_step4_config_parses_back_to_what_it_recorded(tmp_path):
    """A genuine step-4 config (nargs=2, paths, the batch size _check_args fills in) replays as
    recorded: the parse-back check refuses nothing a real run wrote."""
    parser = train_contrastive.build_parser()
    args = parser.parse_args(
        [
            "--baseline-run",
            str(tmp_path / "base"),
            "--unfreeze-layers",
            "1",
            "2",
            "--lr",
            "0.0003",
            "--seeds",
            "2",
            "--attack-classes",
            "--device",
            "cpu",
            "--threads",
            "1",
        ]
    )
    assert train_contrastive._check_args(args) is None
    recorded_args = json.loads(json.dumps({k: str(v) if hasattr(v, "is_dir") else v for k, v in vars(args).items()}))
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"args": recorded_args}))
    argv, _ = replay_argv(train_contrastive.build_parser(), ["--config", str(path)])
    replayed = vars(train_contrastive.build_parser().parse_args(argv))
    assert replayed["batch_size"] == 32
    for key, value in recorded_args.items():
        if key != "config":
            assert (str(replayed[key]) if hasattr(replayed[key], "is_dir") else replayed[key]) == value, key

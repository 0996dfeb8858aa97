"""Step 4: a supervised-contrastive projection head on self-supervised embeddings (frozen, or with a
block of transformer layers fine-tuned from a frame cache), scored with step 3's logistic
regression on the same trials as a step-3 run, and the verdict against that run."""

import argparse
import contextlib
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from deepfake_pipeline.cli.common import (
    add_run_paths,
    add_threads,
    declare_outputs,
    guarded_main,
    limited_threads,
    parse_or_refuse,
)
from deepfake_pipeline.cli.replay import add_config
from deepfake_pipeline.common.errors import PipelineError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train_contrastive.py",
        description="Train a SupCon projection head (optionally fine-tuning a block of the SSL model's transformer "
        "layers), score the step-3 run's test trials with its logistic regression, and test the 1-point rule "
        "against it.",
    )
    parser.add_argument(
        "--baseline-run",
        type=Path,
        required=True,
        help="the eval_logreg.py run (results/<run>) to compare with; its splits, embeddings, "
        "layer and logistic-regression settings are used",
    )
    what = parser.add_argument_group("what the head sees")
    layer = what.add_mutually_exclusive_group()
    layer.add_argument(
        "--layer",
        type=int,
        help="layer to pool (default: the layer the baseline chose; with --unfreeze-layers, the block's last layer)",
    )
    layer.add_argument("--layer-mix", action="store_true", help="a learned softmax-weighted mix of all stored layers")
    block = what.add_mutually_exclusive_group()
    block.add_argument(
        "--unfreeze-last",
        type=int,
        metavar="K",
        help="fine-tune the model's last K transformer layers (pooling the last one)",
    )
    block.add_argument(
        "--unfreeze-layers",
        type=int,
        nargs=2,
        metavar=("A", "B"),
        help="fine-tune transformer layers A..B (1-based); --layer P >= B pools a later layer",
    )
    what.add_argument(
        "--attack-classes",
        action="store_true",
        help="SupCon classes: bona fide and one per attack id (default: bona fide / spoof)",
    )
    what.add_argument("--hidden-dim", type=int, default=256, help="MLP hidden units (default %(default)s)")
    what.add_argument("--proj-dim", type=int, default=128, help="projection size (default %(default)s)")

    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=int, default=30)
    fit.add_argument("--patience", type=int, default=5, help="epochs without a better dev ROC-AUC before stopping")
    fit.add_argument(
        "--batch-size",
        type=int,
        help="clips per step (default 256 on stored embeddings, 32 when layers are unfrozen: each "
        "clip then carries its frames through the block)",
    )
    fit.add_argument("--lr", type=float, default=1e-3, help="learning rate of the head")
    fit.add_argument("--block-lr", type=float, default=2e-5, help="learning rate of the unfrozen transformer layers")
    fit.add_argument("--weight-decay", type=float, default=1e-4)
    fit.add_argument("--temperature", type=float, default=0.1)
    fit.add_argument("--seed", type=int, default=0, help="first seed")
    fit.add_argument("--seeds", type=int, default=1, help="number of seeds (seed, seed+1, ...); mean and sd reported")
    fit.add_argument(
        "--n-boot",
        type=int,
        default=1000,
        help="speaker-clustered bootstrap resamples for the CIs and the verdict (0 = none)",
    )
    fit.add_argument("--device", default="cpu", help="cpu or cuda")
    fit.add_argument("--jobs", type=int, default=1, help="parallel logistic-regression fits (threads)")

    add_run_paths(
        parser,
        overwrite_help="replace an existing --run and its checkpoints",
        data_from="the folders the --baseline-run read its splits from (its config.json)",
    )
    add_threads(parser)
    add_config(parser)
    return parser


def _check_args(args) -> str | None:
    if args.unfreeze_last is not None and args.layer is not None:
        return "--unfreeze-last K pools the model's last layer; to pool another, use --unfreeze-layers A B --layer P"
    if (args.unfreeze_last is not None or args.unfreeze_layers) and args.layer_mix:
        return "--layer-mix mixes the stored frozen layers; it does not combine with unfreezing"
    if args.unfreeze_last is not None and args.unfreeze_last < 1:
        return "--unfreeze-last must be at least 1"
    if args.unfreeze_layers:
        first, last = args.unfreeze_layers
        if not 1 <= first <= last:
            return "--unfreeze-layers A B needs 1 <= A <= B (transformer layers are numbered from 1)"
        if args.layer is not None and args.layer < last:
            return f"--layer {args.layer} is below the unfrozen block's last layer {last}"
    if args.batch_size is None:
        args.batch_size = 32 if (args.unfreeze_last is not None or args.unfreeze_layers) else 256
    for name in ("epochs", "batch_size", "seeds", "hidden_dim", "proj_dim", "jobs"):
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be at least 1"
    if args.patience < 1 or args.n_boot < 0 or args.temperature <= 0 or args.lr <= 0 or args.block_lr <= 0:
        return "--patience must be >= 1, --n-boot >= 0, and --temperature, --lr, --block-lr positive"
    return None


def _representation(args, baseline):
    from deepfake_pipeline.contrastive.data import Representation
    from deepfake_pipeline.formats.step3_run import BaselineRunError

    if args.unfreeze_last is not None:
        return Representation(unfreeze_last=args.unfreeze_last)
    if args.unfreeze_layers:
        first, last = args.unfreeze_layers
        return Representation(first=first, last=last, pooled=args.layer if args.layer is not None else last)
    if args.layer_mix:
        return Representation(layer_mix=True)
    if args.layer is not None:
        return Representation(layer=args.layer)
    if len(baseline.chosen_layers) != 1:
        raise BaselineRunError(
            f"the baseline used layers {baseline.chosen_layers} concatenated: choose --layer N or --layer-mix"
        )
    return Representation(layer=baseline.chosen_layers[0])


def _default_run_name(args, baseline, rep) -> str:
    if rep.unfrozen:
        what = (
            f"unfreeze-last{rep.unfreeze_last}"
            if rep.unfreeze_last
            else f"unfreeze{rep.first}-{rep.last}_L{rep.pooled}"
        )
    else:
        what = "layermix" if rep.layer_mix else f"L{rep.layer}"
    return f"contrastive_{what}{'_attacks' if args.attack_classes else ''}_vs_{baseline.path.name}"


def _make_deterministic(device: str) -> None:
    """CPU kernels used here are deterministic already (and torch's deterministic mode slows
    them tenfold); on a GPU, ask cuBLAS and torch for reproducible kernels. warn_only: an op
    without a deterministic kernel warns rather than stopping a long run."""
    if device.startswith("cuda"):
        import torch

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        # The fused attention kernels have no deterministic backward pass (torch warned so on an
        # H200): the plain math kernel makes runs and resumed runs repeat exactly.
        torch.backends.cuda.enable_flash_sdp(False)
        torch.backends.cuda.enable_mem_efficient_sdp(False)
        torch.backends.cuda.enable_math_sdp(True)
        # TF32 convolutions and matrix products moved pooled embeddings by 2e-4 on cuda.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def _data_dirs_of(baseline, args) -> None:
    """--interim-dir / --processed-dir not given: those the baseline run read its splits from, so
    step 4 finds the embeddings its baseline used without the flags being repeated."""
    from deepfake_pipeline.formats.step3_run import BaselineRunError

    recorded = baseline.config.get("args", {})
    for name in ("interim_dir", "processed_dir"):
        if getattr(args, name) is None:
            if not recorded.get(name):
                raise BaselineRunError(
                    f"{baseline.path}/config.json records no {name}: pass --{name.replace('_', '-')}"
                )
            setattr(args, name, Path(recorded[name]))


def main(argv=None) -> int:
    return guarded_main(_main, argv)


def _main(argv) -> int:
    args = parse_or_refuse(build_parser(), _check_args, argv)
    if args is None:
        return 2
    declare_outputs(
        {"--results-dir": args.results_dir, **({"--processed-dir": args.processed_dir} if args.processed_dir else {})}
    )
    with limited_threads(args.threads):
        return _run(args)


def _run(args) -> int:
    # torch and the rest load once the arguments are known: --help answers at once.
    from deepfake_pipeline.common.lock import output_lock
    from deepfake_pipeline.common.progress import note
    from deepfake_pipeline.contrastive.experiment import (
        ContrastiveSettings,
        attach_sources,
        prepare_experiment,
        train_seeds,
    )
    from deepfake_pipeline.contrastive.outputs import header_lines, note_lines, report_experiment
    from deepfake_pipeline.contrastive.train import TrainConfig
    from deepfake_pipeline.formats.run_dir import RunDir
    from deepfake_pipeline.formats.step3_run import read_baseline_run

    locks = contextlib.ExitStack()  # the run's lock, once its folder is known
    run = None
    try:
        baseline = read_baseline_run(args.baseline_run)
        _data_dirs_of(baseline, args)
        declare_outputs({"--processed-dir": args.processed_dir})
        representation = _representation(args, baseline)
        config_args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        run = RunDir(
            args.results_dir,
            args.run or _default_run_name(args, baseline, representation),
            explicit=bool(args.run),
            overwrite=args.overwrite,
            args=config_args,
        )
        locks.enter_context(output_lock(run.path, f"the run {run.path}", note=note))
        if args.overwrite:
            for stale in run.path.glob("seed_*"):
                shutil.rmtree(stale)
        _make_deterministic(args.device)
        settings = ContrastiveSettings(
            representation=representation,
            train=TrainConfig(
                epochs=args.epochs,
                patience=args.patience,
                batch_size=args.batch_size,
                lr=args.lr,
                block_lr=args.block_lr,
                weight_decay=args.weight_decay,
                temperature=args.temperature,
                seed=args.seed,
            ),
            seeds=tuple(range(args.seed, args.seed + args.seeds)),
            attack_classes=args.attack_classes,
            hidden_dim=args.hidden_dim,
            out_dim=args.proj_dim,
            n_boot=args.n_boot,
            device=args.device,
            interim_dir=args.interim_dir,
            processed_dir=args.processed_dir,
            jobs=args.jobs,
        )
        experiment = prepare_experiment(baseline, settings)
        summary = {
            "representation": settings.representation.describe(),
            "representation_settings": asdict(settings.representation),
            "train": asdict(settings.train),
            "hidden_dim": settings.hidden_dim,
            "proj_dim": settings.out_dim,
            "attack_classes": settings.attack_classes,
        }
        run.write_config(
            config_args,
            args.seed,
            {sid: s.metadata() for sid, s in experiment.splits.items()},
            {"baseline_run": str(baseline.path), "baseline_protocol": baseline.protocol, **summary},
        )
        run.print(*header_lines(run, experiment, settings))
        run.note(*note_lines(experiment))
        attach_sources(experiment, settings, log=run.print)
        train_seeds(experiment, settings, run.path, log=run.note)  # per-epoch lines: progress
        report_experiment(run, experiment, settings, summary)
    except PipelineError as error:  # guarded_main prints it as the closing `error:` line, exit 2
        if run is not None and run.created:
            with run.log_path.open("a") as log:
                log.write(f"error: {error}\n")
        raise
    finally:
        locks.close()
    return 0

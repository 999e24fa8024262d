"""Training: the seeded split, the Lightning wrappers around the MLP, the baselines, runs and cross-validation.

A run directory written by :func:`train_run` holds ``model.ckpt`` (MLP, best by validation loss) or
``model.joblib`` (scikit-learn), ``split.json`` (which photos were train, val and test),
``metrics.json``, ``confusion.png``, and for the MLP ``curves.png`` and ``baseline_svc.joblib`` (an SVC on
the same split, kept for the agreement check of ``posenet-cls evaluate``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from posenet_cls.errors import OtherRankDone, PosenetError
from posenet_cls.features import AugmentConfig, FeatureConfig, augment, recombined, same_draws
from posenet_cls.training.models import MODEL_NAMES
from posenet_cls.training.models.mlp import NORMS, PoseClassifier, eval_layers
from posenet_cls.schema import SCHEMA_VERSION
from posenet_cls.data.splits import Split, make_splits
from posenet_cls.data.table import PoseTable, read_table

RANK_OWNER = "POSENET_CLS_RANK_OWNER"  # the pid of the process whose DDP ranks must not outlive it
WORLD_MODEL = "a model on the world view (the default features; the 'offsets' view reads the image landmarks only)"

# What the shifted protocol chose (issue 15; scripts/cv_table.py --recipes --seeds 0 1 2, table in docs/recipe.md):
# MediaPipe's pairwise offsets as features (z weighted 0.2, no visibility), trained on poses mirrored, rotated
# up to 10 degrees, seen from a camera turned up to 60 degrees about the vertical and 20 about the horizontal,
# and with torso and limb lengths x exp(U(-0.15, 0.15)): 99.2% in-set, 98.2% shifted (the old default, x, y, z
# and visibility without turns, limbs: 98.5% and 92.8%). Ensembles and mirror averaging gained at most 0.3
# points shifted for two to four times the work per pose, so the default stays one MLP.
IMAGE_FEATURES = FeatureConfig(view="offsets", z_weight=0.2)
DEFAULT_FEATURES = FeatureConfig(view="world")
DEFAULT_AUGMENT = AugmentConfig(mirror=0.5, rotate_deg=10.0, scale=0.0, drop=0.0, yaw_deg=60.0, pitch_deg=20.0,
                                limbs=0.15)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; with the same table it decides the result."""

    model: str = "mlp"
    seed: int = 0
    epochs: int = 150  # at most; early stopping usually ends sooner
    patience: int = 25
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-3
    hidden: tuple[int, ...] = (64, 32)  # as accurate as (128, 64) in repeated CV, and smaller and faster
    dropout: float = 0.2
    norm: str = "layer"  # MLP: the layer after each hidden Linear, "layer" (LayerNorm), "batch" (BatchNorm) or "none"
    label_smoothing: float = 0.05
    features: FeatureConfig = DEFAULT_FEATURES
    members: tuple[FeatureConfig, ...] = ()  # MLP: an ensemble, one MLP per feature config (then `features` is unused)
    mirror_average: bool = False  # MLP: average the probabilities of a pose and of its mirror image
    augment: AugmentConfig = DEFAULT_AUGMENT
    folds: int = 5  # the test set is fold `fold` of `folds` stratified group folds
    fold: int = 0
    devices: int = 1  # MLP: Lightning devices (GPUs, or CPU processes); > 1 with a DDP strategy
    strategy: str = "auto"  # MLP: Lightning strategy, "ddp" past one device
    # MLP on the world view: recombined poses (features.recombined) added per batch, as a share of its size, trained
    # towards the uniform answer with this weight on their loss (outlier exposure; image views train without them).
    # Why 1 and 0.25: docs/novelty.md (scripts/train_default_model.py --outliers S W)
    outliers: float = 1.0
    outlier_weight: float = 0.25

    def to_dict(self) -> dict:
        """JSON-safe settings."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["members"] = [m.to_dict() for m in self.members]
        return d

    @property
    def outlier_share(self) -> float:
        """The outliers added per batch: ``outliers`` for a model on the world view only, 0 otherwise."""
        return self.outliers if all(f.reads_world for f in self.feature_configs) else 0.0

    @property
    def feature_configs(self) -> tuple[FeatureConfig, ...]:
        """The feature config of each MLP (one unless an ensemble)."""
        return self.members or (self.features,)

    def check(self) -> None:
        """Refuse settings that cannot train, naming the problem."""
        if self.model not in MODEL_NAMES:
            raise PosenetError(f"unknown model '{self.model}' (choose from {', '.join(MODEL_NAMES)})")
        if not self.hidden or min(self.hidden) < 1:
            raise PosenetError(f"--hidden sizes must be positive integers, got {list(self.hidden)}")
        if self.norm not in NORMS:
            raise PosenetError(f"--norm must be one of {', '.join(NORMS)}, got '{self.norm}'")
        if self.epochs < 1:
            raise PosenetError(f"--epochs must be at least 1, got {self.epochs}")
        a = self.augment
        for name, value in (("--turn YAW", a.yaw_deg), ("--turn PITCH", a.pitch_deg), ("--limbs", a.limbs),
                            ("--rotate", a.rotate_deg), ("--scale", a.scale)):
            if not value >= 0:
                raise PosenetError(f"{name} must be at least 0, got {value:g}")
        if self.folds < 2:
            raise PosenetError(f"the number of folds must be at least 2, got {self.folds}")
        if not 0 <= self.fold < self.folds:
            raise PosenetError(f"fold {self.fold} does not exist with {self.folds} folds")
        if self.devices < 1:
            raise PosenetError(f"--devices must be at least 1, got {self.devices}")
        if self.devices > 1 and not self.strategy.startswith("ddp"):
            raise PosenetError(f"--devices {self.devices} needs a DDP strategy (--strategy ddp), got '{self.strategy}'")
        if self.outliers < 0 or self.outlier_weight < 0:
            raise PosenetError(f"--outliers must be at least 0, got {min(self.outliers, self.outlier_weight):g}")
        if "spawn" in self.strategy or "fork" in self.strategy:
            raise PosenetError(f"--strategy {self.strategy}: the best epoch is kept by the training process; use ddp")


# --- the split ------------------------------------------------------------------------------------


# --- Lightning wrappers ---------------------------------------------------------------------------


def _lightning():
    import pytorch_lightning as pl

    return pl


@contextlib.contextmanager
def one_cpu_thread() -> Iterator[None]:
    """One intra-op CPU thread while training: for a model this small, thread hand-offs cost more than they save
    (yoga8 on 2 cores: 20 epochs take 0.8 s with one thread, 6.5 s with two)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's start-up banners and its advice for bigger datasets while training."""
    names = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning")
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"pytorch_lightning.*")
        try:
            yield
        finally:
            for n, level in saved.items():
                logging.getLogger(n).setLevel(level)


def _make_modules():
    """The LightningModule and LightningDataModule classes (built lazily: Lightning imports slowly)."""
    pl = _lightning()
    from torch.nn import functional as F
    from torch.utils.data import DataLoader, TensorDataset

    class PoseLitModule(pl.LightningModule):
        """Trains a :class:`PoseClassifier` on raw landmarks with cross-entropy and AdamW."""

        def __init__(self, num_classes: int, members: list[dict], hidden: list[int], dropout: float, lr: float,
                     weight_decay: float, label_smoothing: float, mirror_average: bool = False, norm: str = "layer",
                     outlier_weight: float = 0.0):
            super().__init__()
            self.save_hyperparameters()
            self.model = PoseClassifier(num_classes, hidden=hidden, dropout=dropout, members=members,
                                        mirror_average=mirror_average, norm=norm)

        def forward(self, keypoints, world=None):
            return self.model(keypoints, world)

        def _step(self, batch, prefix: str):
            x, w, y = batch
            logits = self.model(x, w)
            known = y >= 0  # training batches may end in outliers (class -1): their target is the uniform one
            if self.training and len(self.model.members) > 1:  # each member learns on its own
                loss = torch.stack([F.cross_entropy(z[known], y[known], label_smoothing=self.hparams.label_smoothing)
                                    for z in self.model.member_logits(x, w)]).mean()
            else:
                loss = F.cross_entropy(logits[known], y[known], label_smoothing=self.hparams.label_smoothing)
                if not known.all():
                    loss = loss - self.hparams.outlier_weight * F.log_softmax(logits[~known], dim=1).mean()
            logits, y = logits[known], y[known]
            acc = (logits.argmax(dim=1) == y).float().mean()
            # sync_dist: under DDP every rank sees the mean over all ranks, so all keep the same best epoch
            self.log(f"{prefix}_loss", loss, on_step=False, on_epoch=True, batch_size=len(y), sync_dist=True)
            self.log(f"{prefix}_acc", acc, on_step=False, on_epoch=True, batch_size=len(y), sync_dist=True)
            return loss

        def training_step(self, batch, batch_idx):
            return self._step(batch, "train")

        def validation_step(self, batch, batch_idx):
            self._step(batch, "val")

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    class PoseDataModule(pl.LightningDataModule):
        """Raw landmarks, world landmarks and class indices of one split; training batches are augmented with a
        seeded RNG (image and world landmarks with the same draws)."""

        def __init__(self, keypoints: np.ndarray, world: np.ndarray, targets: np.ndarray, split: Split,
                     batch_size: int, augment_config: AugmentConfig, seed: int, drop_last: bool = False,
                     outliers: float = 0.0):
            super().__init__()
            self.keypoints, self.world, self.targets, self.split = keypoints, world, targets, split
            self.drop_last, self.outliers = drop_last, outliers
            self.batch_size, self.augment_config, self.seed = batch_size, augment_config, seed
            self.rng = np.random.default_rng(seed)

        def _dataset(self, idx: np.ndarray) -> TensorDataset:
            return TensorDataset(torch.from_numpy(self.keypoints[idx]), torch.from_numpy(self.world[idx]),
                                 torch.from_numpy(self.targets[idx]))

        def _collate_train(self, batch):
            x, w = (np.stack([b[i].numpy() for b in batch]) for i in (0, 1))
            y = torch.stack([b[2] for b in batch])
            if self.augment_config.active:
                x, w = same_draws(lambda p, rng: augment(p, self.augment_config, rng), x, w, self.rng)
            n = int(round(self.outliers * len(batch)))
            if n and len(np.unique(y.numpy())) > 1:  # outlier exposure: poses of no class, from this batch's limbs
                w = np.concatenate([w, recombined(w, y.numpy(), n, self.rng)])
                x = np.concatenate([x, np.zeros((n, *x.shape[1:]), x.dtype)])  # the world view reads no image landmarks
                y = torch.cat([y, torch.full((n,), -1, dtype=y.dtype)])
            return (torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                    torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)), y)

        def train_dataloader(self):
            return DataLoader(self._dataset(self.split.train), batch_size=self.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(self.seed), collate_fn=self._collate_train,
                              num_workers=0, drop_last=self.drop_last)

        def val_dataloader(self):
            return DataLoader(self._dataset(self.split.val), batch_size=1024, shuffle=False, num_workers=0)

    class History(pl.Callback):
        """Per-epoch losses and accuracies, and the weights of the epoch with the lowest validation loss."""

        def __init__(self):
            self.rows: list[dict] = []
            self.best_loss = float("inf")
            self.best_epoch = -1
            self.best_state: dict | None = None

        def on_train_epoch_end(self, trainer, pl_module):
            m = {k: float(v) for k, v in trainer.callback_metrics.items()}
            row = {"epoch": trainer.current_epoch, **{k: round(m[k], 6) for k in
                   ("train_loss", "train_acc", "val_loss", "val_acc") if k in m}}
            self.rows.append(row)
            if m.get("val_loss", float("inf")) < self.best_loss:
                self.best_loss, self.best_epoch = m["val_loss"], trainer.current_epoch
                self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in pl_module.model.state_dict().items()})

    return PoseLitModule, PoseDataModule, History


@dataclass
class FitResult:
    """A trained MLP with its training history."""

    model: PoseClassifier
    history: list[dict]
    best_epoch: int
    best_val_loss: float
    seconds: float


def fit_mlp(table: PoseTable, split: Split, classes: list[str], config: TrainConfig, progress: bool = False) -> FitResult:
    """Train the MLP on ``split.train`` with early stopping on ``split.val``; returns the best epoch's model."""
    if int(os.environ.get("LOCAL_RANK", "0")) > 0:  # a DDP rank launched for this run ends with the one that launched it
        from posenet_cls.pose.lifetime import end_with

        end_with(int(os.environ.get(RANK_OWNER, os.getppid())))
    elif config.devices > 1:
        os.environ[RANK_OWNER] = str(os.getpid())  # Lightning's launcher hands its environment to the other ranks
    pl = _lightning()
    from pytorch_lightning.callbacks import EarlyStopping

    PoseLitModule, PoseDataModule, History = _make_modules()
    start = time.perf_counter()
    with quiet_lightning(), one_cpu_thread():
        pl.seed_everything(config.seed, workers=True, verbose=False)
        targets = np.searchsorted(np.asarray(classes), table.labels.astype(str)).astype(np.int64)
        # BatchNorm cannot train on a batch of one pose, which a last partial batch may be
        data = PoseDataModule(table.keypoints, model_world(table, config), targets, split, config.batch_size,
                              config.augment, config.seed, drop_last=config.norm == "batch", outliers=config.outlier_share)
        module = PoseLitModule(len(classes), [f.to_dict() for f in config.feature_configs], list(config.hidden),
                               config.dropout, config.lr, config.weight_decay, config.label_smoothing,
                               config.mirror_average, config.norm, config.outlier_weight)
        history = History()
        # BatchNorm statistics over every rank's batch; torch syncs them on GPUs only (CPU ranks keep their own)
        sync = config.norm == "batch" and config.devices > 1 and torch.cuda.is_available()
        trainer = pl.Trainer(
            max_epochs=config.epochs, accelerator="auto", devices=config.devices, strategy=config.strategy,
            deterministic=True, logger=False, sync_batchnorm=sync,
            enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=progress,
            num_sanity_val_steps=0, log_every_n_steps=1,
            callbacks=[history, EarlyStopping(monitor="val_loss", mode="min", patience=config.patience)],
        )
        trainer.fit(module, datamodule=data)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # Every rank leaves the group before it goes on or exits: left to interpreter exit, gloo's threads can
        # abort a process ("terminate called without an active exception").
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if trainer.global_rank != 0:  # DDP: a process Lightning launched for another rank ends here; rank 0 writes the run
        raise OtherRankDone(f"rank {trainer.global_rank} done")
    model = PoseClassifier(len(classes), hidden=config.hidden, dropout=config.dropout,
                           members=list(config.feature_configs), mirror_average=config.mirror_average, norm=config.norm)
    model.load_state_dict(history.best_state if history.best_state is not None else module.model.cpu().state_dict())
    return FitResult(model.eval(), history.rows, history.best_epoch, history.best_loss, time.perf_counter() - start)


def model_world(table: PoseTable, config: TrainConfig) -> np.ndarray:
    """The table's world landmarks for a model that reads them (a one-line error when the table has none); zeros
    for one that does not, so every batch has the same form."""
    if any(f.reads_world for f in config.feature_configs):
        return table.require_world(WORLD_MODEL)
    return table.world if table.world is not None else np.zeros((len(table), *table.keypoints.shape[1:2], 3), np.float32)


@torch.no_grad()
def mlp_predict_proba(model: PoseClassifier, keypoints: np.ndarray, world: np.ndarray | None = None) -> np.ndarray:
    """Class probabilities (N, C) of raw poses (N, 33, 4) (and their world landmarks (N, 33, 3), which a model on
    the world view needs), computed on the CPU."""
    model = model.cpu().eval()
    w = None if world is None else torch.from_numpy(np.ascontiguousarray(world, dtype=np.float32))
    logits = model(torch.from_numpy(np.ascontiguousarray(keypoints, dtype=np.float32)), w)
    return torch.softmax(logits, dim=1).numpy()


def calibration_poses(keypoints: np.ndarray, labels: np.ndarray, seed: int,
                      world: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validation poses as other photo sources would show them, for the "unknown" thresholds: SHIFT_DRAWS copies
    of each through :func:`~posenet_cls.training.metrics.shifted` at CALIBRATION_STRENGTH (the world landmarks,
    if given, with the same draws), as (poses, labels, world or None)."""
    from posenet_cls.training.metrics import CALIBRATION_STRENGTH, SHIFT_DRAWS, shifted, shifted_copies

    rng = np.random.default_rng(seed)
    poses, moved = shifted_copies(lambda p, r: shifted(p, r, strength=CALIBRATION_STRENGTH), keypoints, world, rng)
    return poses, np.tile(np.asarray(labels), SHIFT_DRAWS), moved


def calibration_set(model: PoseClassifier, table: PoseTable, split: Split, classes: list[str],
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """A split's calibration poses for the "unknown" thresholds: its val rows through :func:`calibration_poses`,
    as (poses, class indices, the MLP's predicted classes, world landmarks or None)."""
    labels = np.searchsorted(np.asarray(classes), table.labels[split.val].astype(str))
    world = table.require_world(WORLD_MODEL)[split.val] if model.reads_world else None
    poses, labels, world = calibration_poses(table.keypoints[split.val], labels, seed, world)
    return poses, labels, mlp_predict_proba(model, poses, world).argmax(1), world


def hidden_layers(model: PoseClassifier) -> tuple[dict, list[tuple[str, dict[str, np.ndarray]]]] | None:
    """A one-MLP classifier up to its last hidden layer, as (feature settings, [(kind, arrays)]) for the novelty
    score's learned space; None for an ensemble or mirror averaging (no single hidden layer to compare in)."""
    if len(model.mlps) != 1 or model.mirror_average:
        return None
    layers = []
    for m in eval_layers(model.mlps[0].net)[:-1]:
        if isinstance(m, (torch.nn.Linear, torch.nn.LayerNorm)):
            layers.append(("linear" if isinstance(m, torch.nn.Linear) else "layernorm",
                           {name: getattr(m, name).detach().numpy().copy() for name in ("weight", "bias")}))
        elif isinstance(m, torch.nn.GELU):
            layers.append(("gelu", {}))
        else:
            return None
    return model.features.to_dict(), layers


def fit_split_novelty(model: PoseClassifier, table: PoseTable, split: Split, classes: list[str], config: TrainConfig):
    """The novelty model of a trained MLP: references from the split's train rows (in the image plane and in the
    MLP's last hidden layer), thresholds from the right answers on its val rows as other photo sources would show
    them (:func:`calibration_set`)."""
    from posenet_cls.training.novelty import fit_novelty, learned_space

    y_train = np.searchsorted(np.asarray(classes), table.labels[split.train].astype(str))
    hidden = hidden_layers(model.cpu().eval())
    world = table.require_world(WORLD_MODEL)[split.train] if model.reads_world else None
    learned = None if hidden is None else learned_space(*hidden, table.keypoints[split.train], y_train, world=world)
    poses, labels, predicted, val_world = calibration_set(model, table, split, classes, config.seed)
    return fit_novelty(table.keypoints[split.train], y_train, poses, predicted, config.features.torso_multiplier,
                       val_labels=labels, learned=learned, val_world=val_world, train_world=world)


def fit_baseline(name: str, table: PoseTable, index: np.ndarray, config: TrainConfig):
    """Fit baseline ``name`` (:data:`models.MODEL_NAMES` but the MLP) on rows ``index`` (train + val: it needs no
    validation); the SVC and the logistic regression get the mirror augmentation as extra, mirrored rows."""
    from posenet_cls.features import mirror
    from posenet_cls.training.models.baselines import make_baseline

    x, y = table.keypoints[index], table.labels[index].astype(str)
    if name in ("svc", "logreg") and config.augment.mirror > 0:
        x, y = np.concatenate([x, mirror(x)]), np.concatenate([y, y])
    return make_baseline(name, baseline_features(config), config.seed).fit(x, y)


def baseline_features(config: TrainConfig) -> FeatureConfig:
    """The image features the scikit-learn baselines read: the config's, or :data:`IMAGE_FEATURES` when it is the
    world view (the baselines take the image landmarks only)."""
    return IMAGE_FEATURES if config.features.reads_world else config.features


# --- runs -----------------------------------------------------------------------------------------


def _fold_models(table: PoseTable, split: Split, classes: list[str], config: TrainConfig, models: tuple[str, ...],
                 progress: bool, world: np.ndarray) -> dict[str, dict]:
    """Train each model on one split (``world``: :func:`model_world` of the table); per model the test predictions
    (class indices) and fit seconds."""
    out: dict[str, dict] = {}
    test_x, test_w = table.keypoints[split.test], world[split.test]
    for name in models:
        start = time.perf_counter()
        if name == "mlp":
            fit = fit_mlp(table, split, classes, config, progress=progress)
            predict = lambda kp, w, m=fit.model: mlp_predict_proba(m, kp, w).argmax(axis=1)  # noqa: E731
            extra = {"fit": fit}
        else:
            est = fit_baseline(name, table, np.concatenate([split.train, split.val]), config)
            predict = lambda kp, w, e=est: np.searchsorted(np.asarray(classes), e.predict(kp))  # noqa: E731
            extra = {"estimator": est}
        seconds = time.perf_counter() - start
        out[name] = {"pred": predict(test_x, test_w), "seconds": seconds, "predict": predict, **extra}
    return out


def train_run(table_path: str | Path, out_dir: str | Path, config: TrainConfig, progress: bool = False) -> dict:
    """Train ``config.model`` on one split of the table, write the run directory, return its metrics."""
    import joblib

    from posenet_cls.training.checkpoint import model_meta, save_checkpoint
    from posenet_cls.training.metrics import classification_report, robustness
    from posenet_cls.training.plots import plot_confusion, plot_curves
    from posenet_cls.coaching.hints import angle_profile
    from posenet_cls.training.novelty import score

    config.check()
    table_path, out = Path(table_path), Path(out_dir)
    table = read_table(table_path)
    split = make_splits(table, config.folds, config.seed, str(table_path))[config.fold]
    classes = table.classes
    out.mkdir(parents=True, exist_ok=True)
    models = (config.model, "svc") if config.model == "mlp" else (config.model,)
    world = model_world(table, config)
    trained = _fold_models(table, split, classes, config, models, progress, world)
    y_test = np.searchsorted(np.asarray(classes), table.labels[split.test].astype(str))
    run_info = {"table": str(table_path.resolve()), "seed": config.seed, "folds": config.folds, "fold": config.fold}
    meta_extra = {"train_config": config.to_dict(), "run": run_info,
                  "angle_profile": angle_profile(table.keypoints[split.train], table.labels[split.train])}
    main = trained[config.model]
    metrics = {
        "model": config.model, "classes": classes, "schema_version": SCHEMA_VERSION,
        "split": {"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        "test": classification_report(y_test, main["pred"], classes),
        "robustness": robustness(main["predict"], table.keypoints[split.test], y_test, config.seed, world[split.test]),
        "fit_seconds": round(main["seconds"], 2), "config": config.to_dict(),
    }
    if config.model == "mlp":
        fit: FitResult = main["fit"]
        novelty = fit_split_novelty(fit.model, table, split, classes, config)
        save_checkpoint(out / "model.ckpt", fit.model, model_meta(fit.model, classes, **meta_extra), novelty)
        test_novelty = score(novelty, table.keypoints[split.test], main["pred"], world[split.test])
        accepted = float((test_novelty <= novelty.threshold).mean())
        metrics["novelty"] = {**novelty.settings(), "test_accepted": round(accepted, 4)}
        svc = trained["svc"]
        joblib.dump({"meta": {"model": "svc", "classes": classes, "schema_version": SCHEMA_VERSION,
                              "features": baseline_features(config).to_dict(), **meta_extra}, "estimator": svc["estimator"]},
                    out / "baseline_svc.joblib")
        metrics["baseline_svc"] = classification_report(y_test, svc["pred"], classes)
        metrics["agreement_mlp_svc"] = float(np.mean(main["pred"] == svc["pred"]))
        metrics["training"] = {"epochs_run": len(fit.history), "best_epoch": fit.best_epoch,
                               "best_val_loss": round(fit.best_val_loss, 6), "history": fit.history}
        plot_curves(fit.history, out / "curves.png", fit.best_epoch)
    else:
        joblib.dump({"meta": {"model": config.model, "classes": classes, "schema_version": SCHEMA_VERSION,
                              "features": baseline_features(config).to_dict(), **meta_extra},
                     "estimator": main["estimator"]},
                    out / "model.joblib")
    (out / "split.json").write_text(json.dumps({**run_info, **split.to_dict(table)}, indent=1), encoding="utf-8")
    plot_confusion(np.asarray(metrics["test"]["confusion"]), classes, out / "confusion.png",
                   f"{config.model}: test accuracy {metrics['test']['accuracy']:.3f} (n={len(split.test)})")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    return metrics


def cross_validate(table: PoseTable, config: TrainConfig, models: tuple[str, ...] | None = None,
                   progress: Callable[[Iterator], Iterator] | None = None, what: str = "table",
                   splits: list[Split] | None = None) -> dict:
    """Stratified group K-fold (K = ``config.folds``) of each model on the same splits (or on ``splits``, such as
    :func:`data.splits.facing_splits`); per-fold and mean figures."""
    from posenet_cls.training.metrics import classification_report, robustness, summarize_folds

    models = models or (config.model,)
    for name in models:
        replace(config, model=name).check()
    splits = make_splits(table, config.folds, config.seed, what) if splits is None else splits
    classes = table.classes
    world = model_world(table, config)
    per_model: dict[str, list[dict]] = {m: [] for m in models}
    folds = enumerate(splits)
    for i, split in (progress(folds) if progress else folds):
        y_test = np.searchsorted(np.asarray(classes), table.labels[split.test].astype(str))
        trained = _fold_models(table, split, classes, config, models, False, world)
        for name, t in trained.items():
            report = classification_report(y_test, t["pred"], classes)
            report["robustness"] = robustness(t["predict"], table.keypoints[split.test], y_test, config.seed + i,
                                              world[split.test])
            report["fit_seconds"] = round(t["seconds"], 2)
            if name == "mlp":
                report["epochs_run"] = len(t["fit"].history)
            per_model[name].append(report)
    return {"folds": len(splits), "seed": config.seed, "classes": classes, "n": len(table),
            "config": config.to_dict(), "models": {m: summarize_folds(r, classes) for m, r in per_model.items()}}

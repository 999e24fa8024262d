"""Figures of a training run: the confusion matrix and the loss/accuracy curves (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion: np.ndarray, classes: list[str], path: str | Path, title: str) -> None:
    """Save a confusion-matrix heat map (rows: true class, columns: predicted) as PNG."""
    plt = _pyplot()
    cm = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(classes), 0.8 + 0.6 * len(classes)), dpi=110)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_curves(history: list[dict], path: str | Path, best_epoch: int) -> None:
    """Save the MLP's training curves (loss and accuracy per epoch, train and validation) as PNG."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    for key, ax in (("loss", a), ("acc", b)):
        for part in ("train", "val"):
            ax.plot(epochs, [h.get(f"{part}_{key}", np.nan) for h in history], label=part)
        ax.axvline(best_epoch, color="grey", ls="--", lw=0.8, label="best (kept)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy" if key == "acc" else "cross-entropy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

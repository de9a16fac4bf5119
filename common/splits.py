"""Train / validation / test splits, stratified and fixed by a seed; k-fold CV."""

import collections

import numpy as np
from sklearn import model_selection

from common.errors import UserError


def check_class_sizes(labels, class_names, minimum: int) -> None:
    counts = collections.Counter(np.asarray(labels).tolist())
    for label_id, name in enumerate(class_names):
        if counts.get(label_id, 0) < minimum:
            raise UserError(
                f"class {name!r} has {counts.get(label_id, 0)} example(s); a stratified split needs at least {minimum}"
            )


def stratified_split(labels, validation_share: float, test_share: float, seed: int, class_names) -> dict:
    """Row indices for train/validation/test, each keeping the class proportions.

    With `test_share=0` there is no test part (a separate test set is used).
    """
    labels = np.asarray(labels)
    parts = 1 + (validation_share > 0) + (test_share > 0)
    check_class_sizes(labels, class_names, parts)
    everything = np.arange(len(labels))
    split = {"test": np.array([], dtype=int)}
    rest = everything
    if test_share > 0:
        rest, split["test"] = model_selection.train_test_split(
            everything, test_size=part_size(test_share, len(labels), class_names), stratify=labels, random_state=seed
        )
    split["train"], split["validation"] = model_selection.train_test_split(
        rest,
        test_size=part_size(validation_share, len(labels), class_names),
        stratify=labels[rest],
        random_state=seed,
    )
    return {name: np.sort(indices) for name, indices in split.items()}


def part_size(share: float, count: int, class_names) -> int:
    """Rows for a held-out part: its share, but at least one per class (stratification needs it)."""
    return max(len(class_names), round(share * count))


def stratified_folds(labels, folds: int, seed: int, class_names) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rest, test) index pairs for k-fold cross-validation, stratified."""
    check_class_sizes(labels, class_names, folds)
    splitter = model_selection.StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))

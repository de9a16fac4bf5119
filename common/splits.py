"""Train / validation / test splits, fixed by a seed: stratified by class, at random, or by
whole groups (books); stratified k-fold CV."""

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


def random_split(count: int, shares: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Row indices of each part named in `shares`, then "train" (the rest), drawn at random
    (seeded): one permutation of the rows, each part taking `round(share * count)` rows
    from its front in the order `shares` names the parts. Indices stay in the permutation's
    order (sort them where the row order should not change)."""
    order = np.random.default_rng(seed).permutation(count)
    rows, start = {}, 0
    for part, share in shares.items():
        size = int(round(share * count))
        rows[part], start = order[start : start + size], start + size
    rows["train"] = order[start:]
    return rows


def group_split(groups: list[str], shares: dict[str, float], seed: int) -> tuple[dict, dict]:
    """Whole groups (books) to the parts named in `shares`, in a seeded order, until each
    part holds about its share of the rows; the rest is "train". Returns (part -> row
    indices, sorted; part -> the groups held out)."""
    names = list(dict.fromkeys(groups))
    sizes = {name: 0 for name in names}
    for name in groups:
        sizes[name] += 1
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    wanted = {part: share * len(groups) for part, share in shares.items()}
    held = {part: [] for part in shares}
    counts = dict.fromkeys(shares, 0)
    for name in order:
        # A group that would overfill every part (Psalms, say) stays in training.
        part = next((part for part in shares if counts[part] + sizes[name] <= 1.2 * wanted[part]), None)
        if part is not None:
            held[part].append(name)
            counts[part] += sizes[name]
    part_of = {name: part for part, names_held in held.items() for name in names_held}
    rows = {part: [] for part in ("train", *shares)}
    for index, name in enumerate(groups):
        rows[part_of.get(name, "train")].append(index)
    return {part: np.array(indices, dtype=int) for part, indices in rows.items()}, held

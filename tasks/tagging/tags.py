"""Tag schemes (BIO, IOBES, or plain tags such as part of speech), span repair, tag ids."""

import collections
import re

from common.errors import UserError

PAD_TAG = "<pad>"  # tag id 0
ENTITY_TAG = re.compile(r"^(O|[BIES]-.+)$")


def resolve_scheme(requested: str, parts: list) -> str:
    """bio, iobes or none for the `Sentences` of `parts`. `auto` picks bio/iobes when
    every tag is O or X-type."""
    every_tag = {tag for part in parts for sentence in part.tags for tag in sentence}
    spans = all(ENTITY_TAG.match(tag) for tag in every_tag)
    if requested == "auto":
        if not spans:
            return "none"
        return "iobes" if any(tag[:2] in ("E-", "S-") for tag in every_tag) else "bio"
    if requested != "none":
        allowed = ("B-", "I-") if requested == "bio" else ("B-", "I-", "E-", "S-")
        for part in parts:
            for sentence_index, sentence in enumerate(part.tags):
                for position, tag in enumerate(sentence):
                    if tag != "O" and not tag.startswith(allowed):
                        raise UserError(
                            f"{part.line_of(sentence_index, position)}: tag {tag!r} is not valid under "
                            f"scheme={requested} (use scheme=auto or none for tags without spans)"
                        )
    return requested


def repair_sequence(tags: list[str], scheme: str) -> tuple[list[str], list[int]]:
    """Tags with every I-X/E-X that does not continue an X span turned into a span start
    (B-X under BIO; under IOBES I-X -> B-X and E-X -> S-X); also the repaired positions."""
    fixed, repaired = list(tags), []
    for position, tag in enumerate(tags):
        if tag[:2] not in ("I-", "E-"):
            continue
        previous = fixed[position - 1] if position else "O"
        if previous[:2] in ("B-", "I-") and previous[2:] == tag[2:]:
            continue
        fixed[position] = ("S-" if tag.startswith("E-") and scheme == "iobes" else "B-") + tag[2:]
        repaired.append(position)
    return fixed, repaired


def repair_spans(part, scheme: str, repair: bool) -> int:
    """Repair (or, with repair=False, refuse) I- tags with no B- in `part` (`Sentences`);
    count repairs."""
    if scheme == "none":
        return 0
    count, first = 0, None
    for sentence_index, sentence in enumerate(part.tags):
        fixed, positions = repair_sequence(sentence, scheme)
        if not positions:
            continue
        where = part.line_of(sentence_index, positions[0])
        if not repair:
            raise UserError(
                f"{where}: tag {sentence[positions[0]]!r} does not continue a span of its type "
                f"(no B- before it); set repair_tags=true to turn it into a span start"
            )
        part.tags[sentence_index] = fixed
        count += len(positions)
        first = first or where
    if count:
        print(f"warning: {count} I-/E- tag(s) with no B- before them repaired in {part.origin} (first: {first})")
    return count


def tag_vocabulary(train_tags) -> list[str]:
    """PAD_TAG, then training tags by descending frequency (ties alphabetically)."""
    counts = collections.Counter(tag for sentence in train_tags for tag in sentence)
    return [PAD_TAG, *sorted(counts, key=lambda tag: (-counts[tag], tag))]


def unseen_tags(tags, tag_names) -> dict:
    known = set(tag_names)
    counts = collections.Counter(tag for sentence in tags for tag in sentence if tag not in known)
    return dict(sorted(counts.items()))


def tag_ids_of(tags, tag_names) -> list[list[int]]:
    """Tag strings -> ids; a tag unseen in training becomes 0 (padding: never counted)."""
    index = {name: position for position, name in enumerate(tag_names)}
    index.pop(PAD_TAG)
    return [[index.get(tag, 0) for tag in sentence] for sentence in tags]

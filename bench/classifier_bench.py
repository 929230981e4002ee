"""Reply classifier throughput: `app.conversations.classifier.classify` over the public
corpus, single thread.

The corpus is tests/data/replies.tsv, read the way tests/conversations/test_classifier.py
reads it (a line starting with "#" is a comment unless it is a well-formed row: "#3" is a
reply).
Its replies are classified in corpus order, repeated until --count classifications,
with `today` fixed at Wednesday 2026-11-25 and the default language "en".

It prints:

* a first pass over the corpus with the typo-correction cache (`lru_cache` on the
  per-token fuzzy matcher) emptied first: the cost of replies whose words were never
  seen before;
* the timed run: --count classifications, replies per second and microseconds per
  reply (words repeat, as they do in real traffic, so the typo cache is warm; the cache
  of whole replies, which would answer every repeat of the corpus, is bypassed);
* the five slowest replies of the timed run (mean time per call).

Timing figures are printed, never asserted. No database, no network.

    .venv/bin/python bench/classifier_bench.py [--count 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `app` and `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.conversations import classifier
from app.conversations.classifier import Intent, classify
from bench.common import ROOT, print_machine, rate, timed

CORPUS = ROOT / "tests" / "data" / "replies.tsv"
LANGUAGES = frozenset({"en", "es", "pt"})
INTENT_NAMES = frozenset(intent.value for intent in Intent)
# Wednesday, as in tests/conversations/test_classifier.py.
TODAY = date(2026, 11, 25)


def load_replies(path: Path = CORPUS) -> list[str]:
    """The reply texts of the corpus, in file order (leading/trailing spaces kept)."""
    replies: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\r\n")
            fields = line.split("\t")
            is_row = len(fields) == 3 and fields[1] in INTENT_NAMES and fields[2] in LANGUAGES
            if not line or (line.startswith("#") and not is_row):
                continue
            if not is_row:
                raise SystemExit(f"{path.name}: malformed line {line!r}")
            replies.append(fields[0])
    return replies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--count", type=int, default=20_000, help="classifications to time (default 20000)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 10_000_000:
        parser.error("--count must be between 1 and 10,000,000")
    replies = load_replies()
    print_machine()
    print(f"corpus: {CORPUS.relative_to(ROOT)}, {len(replies)} replies", flush=True)

    # Cold: the module-level typo and reply caches start empty, as in a fresh process.
    classifier._correct.cache_clear()
    classifier._classify.cache_clear()
    with timed() as cold:
        for text in replies:
            classify(text, today=TODAY)
    print(
        f"first pass, empty typo cache: {len(replies)} replies in {cold.seconds * 1000:.1f} ms "
        f"= {rate(len(replies), cold.seconds):,.0f} replies/s",
        flush=True,
    )

    spent: dict[int, float] = defaultdict(float)
    calls: dict[int, int] = defaultdict(int)
    clock = time.perf_counter
    # The understanding itself, past the cache of whole replies (which would otherwise
    # answer every repeat of the corpus); the typo cache stays warm.
    understand = classifier._classify.__wrapped__
    with timed() as watch:
        for n in range(args.count):
            index = n % len(replies)
            started = clock()
            understand(replies[index], TODAY, "en")
            spent[index] += clock() - started
            calls[index] += 1
    per_reply_us = watch.seconds / args.count * 1e6
    print(
        f"classify x {args.count:,} (corpus repeated {args.count / len(replies):.0f} times), "
        f"1 thread: {watch.seconds:.2f} s = {rate(args.count, watch.seconds):,.0f} replies/s "
        f"({per_reply_us:.0f} us per reply, timing of each call included)",
        flush=True,
    )
    slowest = sorted(spent, key=lambda i: spent[i] / calls[i], reverse=True)[:5]
    print("slowest replies (mean per call):")
    for index in slowest:
        mean_us = spent[index] / calls[index] * 1e6
        print(f"  {mean_us:8.0f} us  {replies[index]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

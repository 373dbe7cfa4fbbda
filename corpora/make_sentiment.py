"""Builds corpora/sentiment.tsv, the embedded labelled sample for ``textrnn train classifier``.

Synthetic movie-review sentences from templates, written here: nothing is copied from
the web. Each sentence's label (``positive`` or ``negative``) is decidable from its
content: it pairs an opinion word with the film, an actor or a scene, and a negation
("not", "never", "hardly") flips it; a contrast ("..., but ...") makes the clause after
"but" decide. So a bag of words gets most rows right and a sequence model gets all of
them. Run ``python corpora/make_sentiment.py`` to rebuild it; the output is
deterministic.
"""

from __future__ import annotations

import random
from pathlib import Path

ROWS = 2000
SEED = 2024

SUBJECTS = ["the movie", "this film", "the story", "the plot", "the acting", "the script", "the ending",
            "the soundtrack", "the director's vision", "the dialogue", "the lead actor", "the cast",
            "the cinematography", "the pacing", "the sequel", "the final act", "the humour", "the villain"]
POSITIVE = ["wonderful", "brilliant", "moving", "delightful", "gripping", "charming", "superb", "funny",
            "beautiful", "clever", "touching", "excellent", "memorable", "thrilling", "heartfelt", "fresh"]
NEGATIVE = ["dull", "boring", "clumsy", "tedious", "awful", "predictable", "flat", "messy", "lifeless",
            "forgettable", "painful", "silly", "bland", "confusing", "shallow", "tiresome"]
INTENSIFIERS = ["", "", "", "really ", "truly ", "remarkably ", "quite ", "utterly ", "surprisingly "]
NEGATIONS = ["not", "never", "hardly"]
VERBS = ["is", "was", "feels", "seemed", "turns out to be"]
OPENERS = ["", "", "honestly , ", "in the end , ", "for me , ", "overall , ", "i thought ", "critics say "]
CLOSERS = ["", "", "", " from start to finish", " at every turn", " for most of its running time",
           " despite the hype", " on a second viewing"]
POS_ENDINGS = ["i would watch it again", "go and see it", "a must see", "worth every minute",
               "i left the cinema smiling", "easily the best film this year"]
NEG_ENDINGS = ["i would not watch it again", "skip it", "a waste of time", "i wanted my money back",
               "i walked out early", "easily the worst film this year"]


def clause(rng: random.Random, positive: bool) -> str:
    """One opinion clause whose polarity is ``positive``."""
    subject = rng.choice(SUBJECTS)
    verb = rng.choice(VERBS)
    if rng.random() < 0.3:  # negated: "not dull" reads positive, "never moving" negative
        word = rng.choice(NEGATIVE if positive else POSITIVE)
        return f"{subject} {verb} {rng.choice(NEGATIONS)} {word}"
    word = rng.choice(POSITIVE if positive else NEGATIVE)
    return f"{subject} {verb} {rng.choice(INTENSIFIERS)}{word}{rng.choice(CLOSERS)}"


def sentence(rng: random.Random, positive: bool) -> str:
    shape = rng.random()
    if shape < 0.25:  # contrast: the clause after "but" decides
        text = f"{clause(rng, not positive)} , but {clause(rng, positive)}"
    elif shape < 0.45:
        text = f"{clause(rng, positive)} and {clause(rng, positive)}"
    elif shape < 0.6:
        text = f"{clause(rng, positive)} ; {rng.choice(POS_ENDINGS if positive else NEG_ENDINGS)}"
    else:
        text = clause(rng, positive)
    return f"{rng.choice(OPENERS)}{text} ."


def main() -> None:
    rng = random.Random(SEED)
    rows = []
    seen = set()
    while len(rows) < ROWS:
        positive = len(rows) % 2 == 0
        text = sentence(rng, positive)
        if text in seen:
            continue
        seen.add(text)
        rows.append(f"{'positive' if positive else 'negative'}\t{text}\n")
    rng.shuffle(rows)
    out = Path(__file__).resolve().parent / "sentiment.tsv"
    out.write_text("label\ttext\n" + "".join(rows), encoding="utf-8")
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()

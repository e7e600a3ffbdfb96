"""A hand-written sentiment reading of a short text, so the simulator's answers look like a model's.

Why this exists: the simulator must answer sentiment questions plausibly from the prompt alone
(it never sees a dataset or gold labels), and its confidence must mean something. ``read(text)``
returns how much positive and negative evidence a text holds; the simulator turns the margin
into a label and a confidence. What it understands, the way a shallow reader would:

* words and phrases with weights (``"excellent"`` 2, ``"waste of money"`` -2, ``"fine"`` 0.5),
  including plain reports of failure ("snapped off", "logs me out") and of delight ("saved me");
* negation: ``not/never/no/...n't`` up to three words before an entry turns praise into
  criticism (``"not worth it"``) and criticism into faint praise (``"not bad"``); a remedy verb
  turns a problem into praise (``"fixed my back pain"``, ``"used to be painful"``); a negated verb
  the lexicon does not know is a failure report (``"the brake doesn't hold"``); "again" is return
  intent (``"would stay again"`` +, ``"never ordering again"`` -); praise after
  ``should/could/would have`` is an unmet wish (``"could have been better"``);
* intensifiers (``very``, ``absolutely``...) and downtoners (``a bit``, ``somewhat``...) scale the
  next entry; ``too`` before an unrated or bad word is a complaint (``"too salty"``);
* contrast: after ``but/however`` the rest of the sentence counts 1.5x and what came before 0.6x;
  a concession (``although/though/despite/except/at least``) counts half up to the next comma;
* questions count half, exclamations a quarter more;
* sarcasm, the common kind only: praise in an ironic position (after an opener like "Oh great,"
  or "Love how"; or a verdict of three words or fewer like "Truly revolutionary." after a clear
  complaint) in a text that otherwise complains (and has no "but") makes all of the text's
  praise read as criticism; a short phrase in quotes (the "waterproof" jacket) is a complaint and
  negates the praise in it. Sarcasm without a complaint to contrast fools it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ENTRIES: dict[float, str] = {
    2.0: """excellent, amazing, awesome, fantastic, wonderful, outstanding, superb, perfect, perfectly,
        flawless, flawlessly, brilliant, incredible, exceptional, phenomenal, spectacular, stunning, gorgeous,
        delicious, love, loved, loves, loving, adore, adored, best, magnificent, marvelous, marvellous,
        fabulous, terrific, sublime, exquisite, impeccable, immaculate, spotless, lifesaver, life saver,
        top notch, five stars, 5 stars, highly recommend, highly recommended, must have, blown away,
        blew me away, blows me away, game changer, worth every penny, worth every cent, exceeded, exceeds,
        couldn't be happier, could not be happier, can't recommend enough, can't say enough, second to none,
        above and beyond, 10 10, in a heartbeat, well worth, love it, loved it, a joy, delighted, thrilled,
        ecstatic, perfection, wonderfully, amazingly, breathtaking, unbeatable, hidden gem, never fails,
        won't be disappointed, will not be disappointed, never disappoints, couldn't ask for more,
        could not ask for more, never looked back, haven't looked back, still going strong,
        didn't want to leave, won't regret, pleasantly""",
    1.5: """great, recommend, recommended, recommending, worth it, high quality, top quality, well made,
        beautifully, beautiful, delightful, impressive, impressed, favorite, favourite, gem, excellent value,
        great value, good value, bargain, will be back, be back, coming back, come back, spot on, a breeze,
        seamless, seamlessly, effortless, effortlessly, lovely, superior, ideal, four stars, 4 stars, wow,
        no complaints, enjoyed, enjoy, enjoying, enjoyable, happy, happier, pleased, satisfied, grateful,
        thankful, smileyface, worth, exactly what, exactly right, just right, just the right, can't go wrong,
        cannot go wrong, can't beat, cannot beat, not disappointed, nothing to complain about, pleasure,
        a must, excited, heaven, with a smile, genius, unreal, riveting, revolutionary, saved me, a hit,
        real difference, makes a difference, made a difference, well designed, well thought out, so well,
        very well, really well, works well, worked well, no hassle, holds up, held up, most used,
        use it daily, use it every day, bought another, can't wait, couldn't put, without a hitch,
        stuck with, don't regret, wish i'd bought, wish i had bought, should have bought, can't live without""",
    1.0: """good, nice, pleasant, friendly, helpful, polite, politely, courteous, attentive, welcoming, clean,
        comfortable, comfy, cozy, cosy, tasty, fresh, fast, quick, quickly, prompt, promptly, speedy,
        efficient, easy, easily, smooth, smoothly, intuitive, reliable, sturdy, solid, durable, well built,
        glad, like, liked, likes, elegant, stylish, charming, cute, fun, generous, affordable, reasonably priced,
        thoughtful, knowledgeable, professional, professionally, responsive, accommodating, kind, kindly,
        caring, spacious, roomy, crisp, accurate, accurately, handy, convenient, useful, powerful, thank you,
        thanks, appreciate, appreciated, yummy, relaxing, peaceful, refreshing, juicy, tender, flavorful,
        flavourful, crispy, authentic, improved, improvement, better, nicer, faster, easier, on time,
        can't complain, no issues, no problems, no problem, success, successful, winner, felt at home,
        hassle free, painless, helped, pretty, classy, vibrant, gladly, happily, safe, secure, legit,
        satisfying, fair price, cheerful, comfortably, warmly, nicely, gentle, gently, patient, fragrant,
        sorted out, survived, instantly, within minutes, upgraded, healthier, cleaner, fresher, softer, soft,
        homemade, from scratch, saves, saved, second one, open late, don't mind, don't hesitate, enhances,
        laughing, smiling, effective, effectively, lasts, lasted, smelled fresh, perks, bonus, fluffy,
        done right""",
    0.75: """as described, as advertised, finally""",
    0.5: """fine, okay, ok, decent, adequate, acceptable, alright, works, worked, working, quiet, quieter,
        clear, bright, reasonable, warm, cheaper, resolved, solved, fixed, tidy, neat, simple, sufficient,
        fits, fit, explained, detailed, show up, shows up""",
    -0.5: """average, so so, nothing special, waited, expensive, pricey, pricier, cheap, loud, tiny, cold, noise,
        smell, dated, worn, crowded, tired, tough, chewy, dry, salty, oily, weak, difficult, hard to,
        charged, refund, returned, returning, sorry, slightly off, limited, basic, meh, sparse, weird, strange,
        odd, thin, thinner, hiccup, hiccups, hidden, claims, claimed, anymore, constantly, had to, half the,
        see through, expires, bulky, doubled, overwhelming, randomly, raw, sour, bitter, split, dropped""",
    -1.0: """bad, poor, poorly, disappointing, disappointed, disappointment, disappoint, disappoints, mediocre,
        bland, tasteless, stale, soggy, greasy, overcooked, undercooked, burnt, burned, lukewarm, slow, slowly,
        sluggish, laggy, lag, lags, buggy, bug, bugs, glitch, glitches, glitchy, crash, crashes, crashed,
        crashing, freezes, froze, freezing, error, errors, fail, fails, failed, failure, faulty, defective,
        damaged, dented, scratched, scratches, cracked, cracks, leak, leaks, leaking, leaked, missing, wrong,
        incorrect, rude, rudely, unfriendly, unhelpful, unprofessional, dismissive, ignored, ignores, careless,
        incompetent, lazy, dirty, filthy, stained, smelly, smelled, stank, stinks, musty, noisy, cramped,
        uncomfortable, costly, flimsy, fragile, annoying, annoyed, annoyingly, frustrating, frustrated,
        confusing, confused, complicated, clunky, awkward, unreliable, unstable, inaccurate, sad, sadly,
        unhappy, upset, angry, regret, regrets, regretted, problem, problems, issue, issues, complaint,
        complain, complained, hassle, headache, mess, messy, delay, delayed, delays, late, overrated, boring,
        bored, dull, lackluster, lacklustre, underwhelming, underwhelmed, inferior, shoddy, sloppy, lousy,
        drains, drained, draining, overheats, overheating, rattles, loose, wobbly, wobbles, peeling, peels,
        peeled, chipped, faded, shrank, shrunk, ripped, torn, frayed, pilling, rusted, rusty, warped, lost,
        lose, loses, losing, unfortunately, unfortunate, worse, downgrade, spam, ads, paywall, cancelled,
        canceled, cheaply, outdated, shabby, chaotic, understaffed, impossible, painful, pain, mistake,
        mistakes, gimmick, melted, bent, stuck, jammed, jams, clogged, clogs, disconnects, disconnecting,
        spotty, unresponsive, shame, pity, frownyface, expected more, expected better, hoped for more,
        hoped for better, lacking, lacks, lacked, mixed up, mix up, forgot, forgotten, unclear, tedious,
        sticky, crumbling, ugly, dead, dies, stopped, stops, refuses, itchy, scratchy, blurry, grainy,
        cluttered, bloated, slower, shocked, shocking, embarrassed, uninstall, deleted, intrusive, pushy,
        aggressive, could be better, could be improved, never got, gave up, skipped, missed, unavailable,
        hungry, grumpy, scary, scared, stress, stressed, stressful, worried, worrying, forgettable, fee, fees,
        charged me, supposed to, supposedly, allegedly, shrugged, hiding, rush, rushed, hurt, hurts, sore,
        bothers, hit and miss, half the time, still no, still not, still hasn't, still doesn't, drops, logged out,
        spoiled, mushy, watery, slimy, upsell, upselling, upsold, runaround, overbooked, denied, rejected,
        incompatible, soaked, when it works, break, breaks, small portions, gimmicky, slip, slips, slippery,
        every single time""",
    -1.5: """broke, broken, not working, no response, no reply, still waiting, took forever, on hold, sick,
        mold, mould, overpriced, unusable, misleading, insulting, condescending, arrogant, fake, knockoff,
        expired, sent it back, not as described, hidden fees, worst part, poor quality, cockroach,
        roach, rats, yeah right, what a joke, returned it, died, refused, misled, misrepresented,
        lied, embarrassing, greedy, uninstalled, to be desired, no longer works, never came, never answered,
        never responded, never called back, never heard back, not a fan, doesn't fit, didn't fit,
        does not fit, did not fit, didn't last, doesn't last, not impressed, blisters, ruins, cardboard,
        rotten, rancid, shattered, drops out, nobody asked for, my foot, came off, fell off, popped off,
        came loose, came undone, falling out, fell out, falls off, snapped, snap, snaps, soaked through,
        paper thin, tiny portions, logs me out, kicked out, hung up, without warning,
        not what i, don't bother""",
    -2.0: """terrible, terribly, awful, horrible, horribly, horrendous, dreadful, atrocious, abysmal, appalling,
        disgusting, gross, inedible, worst, hate, hated, hates, useless, worthless, garbage, trash, junk,
        rubbish, crap, scam, scammed, fraud, ripoff, rip off, nightmare, disaster, disastrous, unacceptable,
        pathetic, ridiculous, outrageous, furious, livid, waste of money, waste of time, wasted, waste,
        never again, do not buy, don't buy, avoid, stay away, fell apart, falls apart, stopped working,
        doesn't work, does not work, didn't work, did not work, won't turn on, never arrived, never showed,
        never received, overcharged, one star, 1 star, zero stars, bed bugs, food poisoning, counterfeit,
        thanks for nothing, do not recommend, don't recommend, would not recommend, wouldn't recommend,
        not worth it, horrid, vile, infuriating, dangerous, unsafe, disgusted, horrified, appalled, liar,
        cheated, didn't arrive, hasn't arrived, not arrived, quit working, ruined, reeks, reek, stench,
        found a hair, never shows up, never showed up, never show up""",
}
_NEGATORS = frozenset("""not no never nothing nobody none nowhere hardly barely neither nor without cannot
    dont didnt doesnt wasnt isnt cant wont wouldnt couldnt shouldnt arent werent havent hasnt aint
    scarequote""".split())
_VERB_NEGATORS = frozenset({"not", "never", "cannot", "nobody", "nothing"})
_FUNCTION_WORDS = frozenset("""a an the to be been being is are was were am it its i we you they he she me us
    them my our your their this that these those so too very really even just quite always ever actually
    at all any much many more of for in on with as by from about because only get got have has had do does
    did else one anything""".split())
_NOT_FAILURES = frozenset("""expect expected know knew think thought believe care mind need needed want wanted
    imagine wait help hesitate miss understand remember tell see seen saw say said usually often normally
    sure realize realise notice noticed matter judge lie kidding joke exaggerate decide include
    included includes""".split())
_REMEDIES = frozenset("""fixed fixes fix solved solves resolved resolves cured cures eliminated eliminates
    relieved relieves removed removes prevents prevented sorted rid""".split())
_INTENSIFIERS = {word: 1.5 for word in """very really so extremely incredibly absolutely totally truly
    completely utterly highly insanely seriously remarkably exceptionally particularly genuinely deeply
    most such exceedingly thoroughly super painfully""".split()}
_DOWNTONERS = {phrase: 0.6 for phrase in ("a bit", "a little", "slightly", "somewhat", "kind of", "sort of",
                                          "kinda", "fairly", "rather", "mostly", "mildly", "reasonably")}
_CONTRASTS = frozenset({"but", "however", "yet", "unfortunately", "sadly"})
_CONCESSIONS = ("although", "though", "even though", "despite", "in spite of", "except", "apart from",
                "aside from", "other than", "at least")
_SARCASM_OPENERS = ("oh", "ah", "yeah", "sure", "wow", "love how", "love that", "love being", "loved how",
                    "loved that", "loved being", "thanks for", "thank you for", "nothing says", "gotta love")
_WISHES = ("should have", "could have", "would have", "should've", "could've", "would've")
_WILLING = frozenset({"would", "will", "i'll", "we'll", "i'd", "we'd", "definitely", "happily", "gladly",
                      "surely", "certainly", "wait"})
_LIKE_SUBJECTS = frozenset({"i", "we", "you", "they", "really", "also", "definitely", "do", "did", "does",
                            "didn't", "don't", "doesn't", "not", "kids"})
_EMOJI = {"smileyface": re.compile(r"[:;]-?[)D]|[\U0001F600-\U0001F60D\U0001F642\U0001F970\U0001F44D\u2764]"),
          "frownyface": re.compile(r":-?\(|[\U0001F620-\U0001F62D\U0001F44E\U0001F92E\U0001F644\U0001F61E]")}
_SCARE_QUOTE = re.compile(r"[\"\u201c]([^\"\u201c\u201d]{1,40})[\"\u201d]")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.!?;,:\n]")
_SENTENCE_END = frozenset(".!?;\n")
_BREAKS = _SENTENCE_END | {",", ":"}
_NEGATION_WINDOW = 3
_AGAIN_WINDOW = 6
_LONGEST = 5
_FAILURE = -0.8
_SCARE = -1.0
_IRONY_NEEDS = {1: 0.5, 2: 1.5}


@dataclass(frozen=True)
class Reading:
    """Weighted positive and negative evidence found in a text (both >= 0)."""

    positive: float
    negative: float

    @property
    def net(self) -> float:
        """Positive minus negative: the sign is the lean, the size the margin."""
        return self.positive - self.negative

    @property
    def mass(self) -> float:
        """All the opinion found, either way."""
        return self.positive + self.negative

    @property
    def balance(self) -> float:
        """1 when the text leans one way only, 0 when both ways equally (mixed)."""
        return abs(self.net) / self.mass if self.mass else 0.0


def tokenize(text: str) -> list[str]:
    """Lower-case words (contractions kept whole) and the punctuation that ends clauses; a short
    quoted phrase is preceded by the token ``scarequote``."""
    text = _SCARE_QUOTE.sub(lambda m: f" scarequote {m.group(1)} " if len(m.group(1).split()) <= 3 else m.group(0),
                            text.replace("\u2019", "'"))
    for name, pattern in _EMOJI.items():
        text = pattern.sub(f" {name} ", text)
    return _TOKEN.findall(text.lower())


def _build() -> dict[tuple[str, ...], float]:
    table: dict[tuple[str, ...], float] = {}
    for weight, entries in _ENTRIES.items():
        for entry in entries.split(","):
            table[tuple(tokenize(entry.strip()))] = weight
    return table


_WEIGHTS = _build()
_MODIFIERS: dict[tuple[str, ...], float] = {tuple(phrase.split()): factor
                                            for phrase, factor in {**_INTENSIFIERS, **_DOWNTONERS}.items()}


def read(text: str) -> Reading:
    """The positive and negative evidence of ``text`` (see the module docstring)."""
    tokens = tokenize(text)
    found = [value for sentence in _sentences(tokens) for value in _sentence_values(tokens, sentence)]
    complaint = _complaint(tokens, found)
    sarcastic = any(irony and complaint >= _IRONY_NEEDS[irony] for _, irony in found)
    values = [-0.85 * value if sarcastic and value > 0 else value for value, _ in found]
    positive = sum(value for value in values if value > 0)
    return Reading(positive, positive - sum(values))


def _sentences(tokens: list[str]) -> list[range]:
    bounds, start = [], 0
    for index, token in enumerate(tokens):
        if token in _SENTENCE_END:
            bounds.append(range(start, index + 1))
            start = index + 1
    if start < len(tokens):
        bounds.append(range(start, len(tokens)))
    return bounds


def _complaint(tokens: list[str], found: list[tuple[float, int]]) -> float:
    """How much the text complains outside ironic positions (a scare quote, a strong sign of irony,
    counts half again); 0 when a "but" or a concession makes it a mixed review, not a sarcastic one.
    Praise in an ironic position of a complaining text makes all of the text's praise sarcastic."""
    if any(token in _CONTRASTS or _match(tokens, index, _CONCESSIONS) for index, token in enumerate(tokens)):
        return 0.0
    scare_quotes = tokens.count("scarequote")
    return -sum(value for value, irony in found if value < 0 and not irony) - 0.5 * _SCARE * scare_quotes


def _sentence_values(tokens: list[str], sentence: range) -> list[tuple[float, int]]:
    """Each entry's signed value in one sentence, weighted by contrast, concession and mood, and
    how ironic its position is for praise: 1 after an opener ("Oh great,", "Love how"), 2 in a
    verdict of three words or fewer ("Truly revolutionary."), else 0."""
    values: list[float] = []
    irony: list[int] = []
    pivot: int | None = None
    conceding = False
    opener = _match(tokens, sentence.start, _SARCASM_OPENERS)
    scope = index = sentence.start
    while index < sentence.stop:
        token = tokens[index]
        if token in _CONTRASTS and _starts_clause(tokens, index, sentence.start):
            pivot = len(values)
        if _match(tokens, index, _CONCESSIONS):
            conceding = True
        elif token in _BREAKS:
            conceding = False
        value, length = _entry(tokens, index, scope)
        if value:
            values.append(value * (0.5 if conceding else 1.0))
            exclaimed = index == sentence.start and _interjection(tokens, index + length)
            irony.append(int(value > 0 and (opener or exclaimed)))
            if _is_negator(token) and length > 1:
                scope = index + length
        index += length
    if pivot is not None:
        values = [value * (0.6 if position < pivot else 1.5) for position, value in enumerate(values)]
    words = [token for token in tokens[sentence.start:sentence.stop] if token not in _BREAKS]
    if len(words) <= 3 and values and min(values) > 0:
        irony = [flag or 2 for flag in irony]
    mood = {"?": 0.5, "!": 1.25}.get(tokens[sentence.stop - 1], 1.0) * (0.5 if words[-1:] == ["though"] else 1.0)
    return [(value * mood, flag) for value, flag in zip(values, irony, strict=True)]


def _interjection(tokens: list[str], after: int) -> bool:
    """Praise opening a sentence as an exclamation: "Great, now ..." (not a list: "Smooth, quiet");
    "Fantastic customer service: ..."."""
    if tokens[after:after + 1] == [","]:
        return after + 1 < len(tokens) and _longest(tokens, after + 1, _WEIGHTS)[0] is None
    return ":" in tokens[after:after + 3]


def _starts_clause(tokens: list[str], index: int, start: int) -> bool:
    """``yet`` is a contrast only at a clause start ("not yet" is not); the others anywhere."""
    return tokens[index] != "yet" or index == start or tokens[index - 1] in {",", "and"}


def _match(tokens: list[str], index: int, phrases: tuple[str, ...]) -> bool:
    return any(tokens[index:index + len(phrase.split())] == phrase.split() for phrase in phrases)


def _contains(tokens: list[str], phrases: tuple[str, ...]) -> bool:
    return any(_match(tokens, position, phrases) for position in range(len(tokens)))


def _longest(tokens: list[str], index: int, table: dict[tuple[str, ...], float]) -> tuple[float | None, int]:
    """The value and length of the longest ``table`` key starting at ``index`` ((None, 1) if none)."""
    for length in range(min(_LONGEST, len(tokens) - index), 0, -1):
        found = table.get(tuple(tokens[index:index + length]))
        if found is not None:
            return found, length
    return None, 1


def _entry(tokens: list[str], index: int, scope: int) -> tuple[float, int]:
    """The signed value of the entry starting at ``index`` (0 if none) and how many tokens it spans.

    ``scope`` is where negation may look back to: not past a phrase whose own negator it used."""
    weight, length = _longest(tokens, index, _WEIGHTS)
    modifier, modifier_length = _longest(tokens, index, _MODIFIERS)
    if modifier is not None and (weight is None or modifier_length > length):
        return 0.0, modifier_length
    if weight is not None and _counts(tokens, index):
        return _in_context(tokens, index, scope, weight), length
    special = {"again": lambda: _again(tokens, index, scope), "too": lambda: _too(tokens, index),
               "scarequote": lambda: _SCARE}.get(tokens[index])
    if special:
        return special(), 1
    return (_failure(tokens, index) if _is_verb_negator(tokens[index]) else 0.0), 1


def _counts(tokens: list[str], index: int) -> bool:
    """Context-dependent words: "like" is the verb only after a subject ("tastes like" is not);
    "pretty" before another entry is a modifier ("pretty good"), not praise."""
    word = tokens[index]
    if word == "like":
        return index > 0 and tokens[index - 1] in _LIKE_SUBJECTS
    if word == "pretty":
        return _longest(tokens, index + 1, _WEIGHTS)[0] is None
    return True


def _in_context(tokens: list[str], index: int, scope: int, weight: float) -> float:
    """An entry's weight after the modifier, and the negation, remedy or unmet wish before it."""
    value = weight * _modifier(tokens, index, scope)
    if _is_negator(tokens[index]):
        return value
    window = _window(tokens, index, scope, _NEGATION_WINDOW)
    if value > 0:
        negated = any(_is_negator(token) for token in window)
        return -0.85 * value if negated != _wished(tokens, index, scope) else value
    negated = any(_is_negator(token) for token in window if token != "scarequote")
    remedied = any(token in _REMEDIES for token in window) or _contains(window[::-1], ("used to",))
    if negated == remedied:
        return value
    return -0.85 * value if remedied else -0.5 * value


def _window(tokens: list[str], index: int, start: int, size: int) -> list[str]:
    """Up to ``size`` tokens before ``index`` in the same clause, nearest first (not across
    punctuation or a contrast); "not only" negates nothing."""
    window: list[str] = []
    for position in range(index - 1, max(start, index - size) - 1, -1):
        token = tokens[position]
        if token in _BREAKS or token in _CONTRASTS:
            break
        if not (token == "not" and tokens[position + 1] == "only"):
            window.append(token)
    return window


def _is_negator(token: str) -> bool:
    return token in _NEGATORS or token.endswith("n't")


def _is_verb_negator(token: str) -> bool:
    return token in _VERB_NEGATORS or token.endswith("n't") or (token in _NEGATORS and token.endswith("nt"))


def _failure(tokens: list[str], index: int) -> float:
    """A negated verb the lexicon does not rate reports a failure ("the lid doesn't close"), unless
    it has not happened *yet*."""
    if "yet" in tokens[index + 1:index + 6]:
        return 0.0
    for position in range(index + 1, min(index + 4, len(tokens))):
        token = tokens[position]
        if token in _BREAKS or token in _NOT_FAILURES or _longest(tokens, position, _WEIGHTS)[0] is not None:
            return 0.0
        if token not in _FUNCTION_WORDS:
            return _FAILURE
    return 0.0


def _modifier(tokens: list[str], index: int, start: int) -> float:
    """The intensifier or downtoner right before an entry, or one word before ("so very good")."""
    for end in (index, index - 1):
        for phrase, factor in _MODIFIERS.items():
            begin = end - len(phrase)
            if begin >= start and tuple(tokens[begin:end]) == phrase:
                return factor
    return 1.0


def _wished(tokens: list[str], index: int, start: int) -> bool:
    """Praise inside an unmet wish: "could have been better", "should've been great"."""
    return _contains(tokens[max(start, index - 4):index], _WISHES)


def _again(tokens: list[str], index: int, start: int) -> float:
    """Return intent: "would order again" is praise, "never again"/"won't stay here again" is not."""
    window = _window(tokens, index, start, _AGAIN_WINDOW)
    if any(_is_negator(token) for token in window):
        return -1.5
    return 1.5 if any(token in _WILLING for token in window) else 0.0


def _too(tokens: list[str], index: int) -> float:
    """ "too" before a word the lexicon does not rate or rates badly is a complaint ("too small",
    "too slow"); "not too" and "me too" are not."""
    if index + 1 >= len(tokens) or tokens[index + 1] in _BREAKS or (index and _is_negator(tokens[index - 1])):
        return 0.0
    if index and tokens[index - 1] in {"me", "us", "you", "them", "it", "and"}:
        return 0.0
    rated = _longest(tokens, index + 1, _WEIGHTS)[0]
    return -1.0 if rated is None or rated < 0 else 0.0

"""Bot detection from the User-Agent string.

A UA is a bot when it is empty or blank, when it matches any pattern of the isbot list
(``engine/data/bot_patterns.json``, taken verbatim from the npm package isbot 5.2.3, matched
case-insensitively like isbot's ``new RegExp(pattern, "i")``), or when ua-parser classifies its
device as "Spider". Results are memoised per UA string.

The isbot list is one big alternation in JavaScript. Compiled that way with the ``regex`` module
(``re`` rejects two of the patterns: a variable-width lookbehind and a ``[\\w\\d-.]`` class) it
costs ~200 µs per human UA, because neither engine can skip ahead on literal prefixes inside a
2,000-character alternation. The same patterns are therefore split by shape -- this matches
exactly the same strings (checked against isbot itself under node on ~8,500 UAs):

* plain literals (half the list) -> one trie-shaped ``re`` alternation (shared prefixes
  factored out, so each position meets a handful of branches instead of a hundred);
* ``^literal`` patterns -> one ``str.startswith`` with a tuple;
* other ``^``-anchored patterns -> one ``regex`` alternation tried only at position 0;
* the rest -> one compiled ``regex`` each, run only when the UA contains a literal that the
  pattern cannot match without (found by a small scan of the pattern source).

Subjects are ASCII-lowercased first (JavaScript's non-unicode ``i`` flag never folds non-ASCII
onto ASCII either). An uncached check costs ~12 µs; a cached one is a dict lookup.
"""

from __future__ import annotations

import functools
import re

import regex

from engine.enrich._data import load_json
from engine.enrich.useragent import UA_CACHE_SIZE, is_spider

__all__ = ["is_bot", "BOT_PATTERNS"]

BOT_PATTERNS: tuple[str, ...] = tuple(load_json("bot_patterns.json")["patterns"])

_META = frozenset("\\^$.|?*+()[]{}")
# Escapes that stand for one literal character.
_LITERAL_ESCAPES = frozenset("./-()|@:;,_ []{}?*+^$\\!#%&'\"<>=~`")


def _skip_class(p: str, i: int) -> int:
    """Index just past the character class starting at p[i] == '['."""
    i += 1
    if i < len(p) and p[i] == "^":
        i += 1
    if i < len(p) and p[i] == "]":
        i += 1
    while i < len(p) and p[i] != "]":
        i += 2 if p[i] == "\\" else 1
    return i + 1


def _skip_group(p: str, i: int) -> int:
    """Index just past the group starting at p[i] == '('."""
    depth = 0
    while i < len(p):
        c = p[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _skip_class(p, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def literal_runs(p: str) -> list[str] | None:
    """Literal character runs of the top-level concatenation of pattern ``p``, lowercased.

    Every run must occur (case-insensitively) in any string the pattern matches. Returns None
    when the pattern has a top-level alternation (then nothing is required)."""
    runs: list[str] = []
    cur: list[str] = []

    def end_run() -> None:
        if cur:
            runs.append("".join(cur).lower())
            cur.clear()

    i = 0
    while i < len(p):
        c = p[i]
        if c == "|":
            return None
        if c in "?*+{":
            # A quantifier: when it follows a literal char, that char is not required as is.
            if c in "?*{" and cur:
                cur.pop()
            end_run()
            if c == "{":
                i = p.index("}", i) + 1
            else:
                i += 1
            if i < len(p) and p[i] == "?":  # lazy quantifier
                i += 1
            continue
        if c == "\\" and i + 1 < len(p):
            if p[i + 1] in _LITERAL_ESCAPES:
                cur.append(p[i + 1])
            else:  # \w, \d, \b, ... : not a literal
                end_run()
            i += 2
            continue
        if c == "[":
            end_run()
            i = _skip_class(p, i)
            continue
        if c == "(":
            end_run()
            i = _skip_group(p, i)
            continue
        if c in _META:  # . ^ $
            end_run()
            i += 1
            continue
        cur.append(c)
        i += 1
    end_run()
    return runs


def _as_literal(p: str) -> str | None:
    """The pattern as a plain lowercase string when it has no regex syntax beyond escapes."""
    runs = literal_runs(p)
    if runs is None or len(runs) != 1:
        return None
    # Only a literal if the single run spans the whole pattern.
    unescaped = re.sub(r"\\(.)", r"\1", p)
    return runs[0] if runs[0] == unescaped.lower() else None


def _trie_pattern(words: list[str]) -> str:
    """A regex source matching any of ``words``, factored as a trie. A word that has another
    word as a prefix is dropped (for a yes/no search the shorter one suffices)."""
    root: dict = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        if "" in node:
            return ""
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items())]
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return emit(root)


def _ascii_lower(s: str) -> str:
    """Lowercase ASCII letters only, like JavaScript's case-insensitive (non-unicode) matching,
    which never folds a non-ASCII character onto an ASCII one."""
    if s.isascii():
        return s.lower()
    return s.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


def _compile(p: str) -> regex.Pattern:
    # Subjects are lowercased first; a pattern with an upper-case letter outside an escape
    # keeps the IGNORECASE flag so it still matches as isbot would.
    upper = re.search(r"(?<!\\)[A-Z]", p) is not None
    return regex.compile(p, regex.ASCII | (regex.IGNORECASE if upper else 0))


class _Matcher:
    """Any-of matcher equivalent to isbot's ``new RegExp(patterns.join("|"), "i")``."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        literals: list[str] = []
        prefixes: list[str] = []
        anchored: list[str] = []
        others: list[tuple[str, regex.Pattern]] = []
        for p in patterns:
            lit = _as_literal(p)
            if lit is not None:
                literals.append(lit)
                continue
            runs = literal_runs(p)
            if p.startswith("^") and runs is not None:
                prefix = _as_literal(p[1:])
                if prefix is not None:
                    prefixes.append(prefix)
                else:
                    anchored.append(p[1:])
                continue
            best = max(runs, key=len) if runs else ""
            others.append((best, _compile(p)))
        self.literal = re.compile(_trie_pattern(literals), re.ASCII)
        self.prefixes = tuple(prefixes)
        self.anchored = _compile("(?:" + "|".join(anchored) + ")")
        self.others = tuple(others)
        self.counts = {
            "literal": len(literals),
            "prefix": len(prefixes),
            "anchored": len(anchored),
            "other": len(others),
        }

    def matches(self, ua: str) -> bool:
        low = _ascii_lower(ua)
        if low.startswith(self.prefixes) or self.literal.search(low) or self.anchored.match(low):
            return True
        for required, pat in self.others:
            if required in low and pat.search(low):
                return True
        return False


_MATCHER = _Matcher(BOT_PATTERNS)


@functools.lru_cache(maxsize=UA_CACHE_SIZE)
def is_bot(ua: str) -> bool:
    """True for crawlers, scripts and other non-human User-Agents, and for empty/blank UAs."""
    if not ua or ua.isspace():
        return True
    return _MATCHER.matches(ua) or is_spider(ua)

"""Cleaning of untrusted forge text (hidden comments, invisible characters) and safe fencing."""

from __future__ import annotations

import re
import unicodedata

# Fence lines per CommonMark: up to three spaces, then three or more backticks or tildes.
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*$", re.MULTILINE)
_HTML_COMMENT_START = "<!--"
_HTML_COMMENT_END = "-->"

# Letters that render as nothing (Hangul fillers) and the supplementary variation selectors,
# which can smuggle hidden bytes; none of them is in the `Cf` category.
_EXTRA_INVISIBLE = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0"})
_SUPPLEMENTARY_VARIATION_SELECTORS = range(0xE0100, 0xE01F0)
_KEPT_CONTROLS = frozenset({"\n", "\t"})
_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)


def clean_untrusted_text(text: str) -> str:
    """Strip HTML comments (outside code fences) and invisible characters; keep it readable.

    Removed: every `Cf` character (zero-width spaces and joiners, bidi controls, BOM, tag
    characters, soft hyphen, ...), other control characters except newline and tab, Hangul
    fillers and supplementary variation selectors. Line endings become `\\n`; line and
    paragraph separators become newlines; runs of blank lines are collapsed.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = "".join(character for character in text if not _is_invisible(character))
    text = strip_html_comments(text)
    text = _TRAILING_SPACE.sub("", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def _is_invisible(character: str) -> bool:
    if character in _KEPT_CONTROLS:
        return False
    if character in _EXTRA_INVISIBLE or ord(character) in _SUPPLEMENTARY_VARIATION_SELECTORS:
        return True
    return unicodedata.category(character) in ("Cf", "Cc")


def strip_html_comments(text: str) -> str:
    """Remove `<!-- … -->` outside fenced code blocks (an unclosed one hides the rest).

    Text inside code fences is shown as-is on the forge, so it is kept as it is.
    """
    pieces: list[str] = []
    position = 0
    while position < len(text):
        comment_start = text.find(_HTML_COMMENT_START, position)
        fence = _FENCE_OPEN.search(text, position)
        if fence is not None and (comment_start == -1 or fence.start() < comment_start):
            fence_end = _fenced_block_end(text, fence)
            pieces.append(text[position:fence_end])
            position = fence_end
        elif comment_start != -1:
            pieces.append(text[position:comment_start])
            comment_end = text.find(_HTML_COMMENT_END, comment_start + len(_HTML_COMMENT_START))
            position = len(text) if comment_end == -1 else comment_end + len(_HTML_COMMENT_END)
        else:
            pieces.append(text[position:])
            break
    return "".join(pieces)


def _fenced_block_end(text: str, fence: re.Match[str]) -> int:
    """The index just past the closing fence of the block `fence` opens (or the text's end)."""
    marker = fence.group(1)
    closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$", re.MULTILINE)
    found = closing.search(text, fence.end() + 1)
    return len(text) if found is None else found.end()


def fence(text: str, info: str = "text") -> str:
    """Put text in a code fence longer than any backtick run inside it, so it cannot break out."""
    longest_run = max((len(run) for run in re.findall(r"`+", text)), default=0)
    marker = "`" * max(3, longest_run + 1)
    return f"{marker}{info}\n{text}\n{marker}"


def truncate(text: str, limit: int) -> str:
    """Cut text to about `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return f"{text[:limit].rstrip()}\n[… {cut} more characters left out …]"


def normalise_for_comparison(text: str) -> str:
    """Lower-case letters and digits only: to tell whether two texts say the same thing."""
    return "".join(character for character in text.casefold() if character.isalnum())

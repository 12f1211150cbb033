"""The parts of RFC 9110 (HTTP Semantics) that `pywgsl serve` needs, as pure functions of header
field values and a file's validators, so each rule can be tested without a server: byte range sets
(section 14.1), conditional requests and the order they are evaluated in (section 13), and the
framing of a multipart/byteranges body (section 14.6). A field arrives as the list of its field lines
(aiohttp's `headers.getall(name, [])`), because a list-valued field may be split across lines and a
single-valued one that is repeated is invalid."""
from __future__ import annotations

import calendar
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_tz

# More parts than this, once overlapping and adjacent ranges are merged, and the Range field is
# ignored: the whole file is sent with 200, as nginx's max_ranges and Apache's MaxRanges do. RFC 9110
# section 14.2 lets a server ignore a set of many small ranges (a sign of a broken client or a denial
# of service); answering 416 would tell a client that its satisfiable ranges were not, and a 200 costs
# no more than a plain GET (the parts are disjoint after merging, so they never add up past the file).
MAX_PARTS = 32

_OWS = " \t"
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")  # [0-9], not \d: int() would take other scripts' digits
_ENTITY_TAG = re.compile(r'(W/)?("[^"]*")')


@dataclass(frozen=True)
class Validators:
    """What a response tells a cache about the file behind it: a strong ETag, and Last-Modified in
    whole seconds (the precision of an HTTP-date, so a date a client sends back compares equal)."""

    etag: str
    last_modified: int  # seconds since the epoch

    @classmethod
    def of(cls, st: os.stat_result) -> Validators:
        return cls(f'"{st.st_mtime_ns:x}-{st.st_size:x}"', st.st_mtime_ns // 10**9)

    @property
    def last_modified_text(self) -> str:
        return formatdate(self.last_modified, usegmt=True)


# --- Range (section 14.1) ------------------------------------------------------------------------

def byte_ranges(field: list[str], size: int) -> list[tuple[int, int]] | None:
    """The inclusive (first, last) parts to send for a Range field on a file of `size` bytes.

    None: ignore the field and send the whole file (no Range, another unit, a set that breaks the
    grammar, a repeated field, or more than MAX_PARTS parts). []: no range is satisfiable (416).
    Otherwise the satisfiable ranges with overlapping and adjacent ones merged (section 14.6 allows
    it, whatever their order), in the order the request first named each, as section 14.6 asks."""
    specs = _range_specs(field)
    if specs is None:
        return None
    ranges = []
    for first_text, last_text in specs:
        if first_text:  # int-range: first-pos "-" [ last-pos ]
            first = _bounded(first_text, size)
            if first < size:  # else it starts past the end: unsatisfiable
                ranges.append((first, _bounded(last_text, size - 1) if last_text else size - 1))
        else:  # suffix-range: "-" suffix-length, the last n bytes; unsatisfiable for n = 0 or an empty file
            length = _bounded(last_text, size)
            if length > 0:
                ranges.append((size - length, size - 1))
    parts = _coalesce(ranges)
    return None if len(parts) > MAX_PARTS else parts


def _range_specs(field: list[str]) -> list[tuple[str, str]] | None:
    """(first-pos, last-pos) digit strings of a bytes range set, either possibly empty; None for
    anything the grammar rejects, which section 14.2 lets a server ignore."""
    if len(field) != 1:  # Range is not a list field: two lines of it are invalid
        return None
    unit, equals, range_set = field[0].strip(_OWS).partition("=")
    if not equals or unit.lower() != "bytes":  # range units are case-insensitive (section 14.1)
        return None
    elements = [element.strip(_OWS) for element in range_set.split(",")]
    matches = [_RANGE_SPEC.fullmatch(element) for element in elements if element]  # empty elements are allowed
    if not matches or any(m is None or m.group() == "-" for m in matches):
        return None
    specs = [(m[1], m[2]) for m in matches]
    if any(first and last and _decimal_key(last) < _decimal_key(first) for first, last in specs):
        return None  # last-pos < first-pos makes the whole set invalid
    return specs


def _decimal_key(digits: str) -> tuple[int, str]:
    """Orders ASCII digit strings of any length as numbers, without int(): Python refuses to convert
    more than 4300 digits, and a client may send 8000."""
    digits = digits.lstrip("0") or "0"
    return len(digits), digits


def _bounded(digits: str, limit: int) -> int:
    """min(int(digits), limit) for digits of any length (leading zeros too) and limit >= 0."""
    length, digits = _decimal_key(digits)
    return int(digits) if (length, digits) < _decimal_key(str(limit)) else limit


def _coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping and adjacent ranges merged; each merged part keeps the place of the earliest range
    in it. Sorting first keeps this O(n log n) for the thousands of ranges a header can hold."""
    merged: list[list[int]] = []  # [first, last, index of the earliest range in it]
    for index in sorted(range(len(ranges)), key=ranges.__getitem__):
        first, last = ranges[index]
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
            merged[-1][2] = min(merged[-1][2], index)
        else:
            merged.append([first, last, index])
    return [(first, last) for first, last, _ in sorted(merged, key=lambda part: part[2])]


# --- Conditional requests (section 13) -----------------------------------------------------------

def precondition_failure(method: str, field: Callable[[str], list[str]],
                         validators: Validators) -> tuple[int, str] | None:
    """Steps 1 to 4 of section 13.2.2 for a file that exists: (412 or 304, the field that decided)
    when a precondition stops the request, None to go on. `field(name)` gives a field's lines.
    If-Unmodified-Since counts only without If-Match, If-Modified-Since only without If-None-Match."""
    if_match, if_none_match = field("If-Match"), field("If-None-Match")
    if _has_members(if_match):
        if not _tag_matches(if_match, validators.etag, weak=False):
            return 412, "If-Match"
    else:
        since = http_date(field("If-Unmodified-Since"))
        if since is not None and validators.last_modified > since:
            return 412, "If-Unmodified-Since"
    if _has_members(if_none_match):
        if _tag_matches(if_none_match, validators.etag, weak=True):
            return (304 if method in ("GET", "HEAD") else 412), "If-None-Match"
    elif method in ("GET", "HEAD"):
        since = http_date(field("If-Modified-Since"))
        if since is not None and validators.last_modified <= since:
            return 304, "If-Modified-Since"
    return None


def if_range_holds(field: list[str], validators: Validators, now: float) -> bool:
    """Step 5 of section 13.2.2: whether a Range may be honoured under this If-Range (section 13.1.5).
    An entity tag must match strongly (a weak one never does); a date must equal Last-Modified, and
    only counts when Last-Modified is strong, at least a second before the response's Date (8.8.2.2)."""
    if not field:
        return True
    if len(field) != 1:
        return False
    value = field[0].strip(_OWS)
    if value.startswith(('"', 'W/"')):
        return value == validators.etag
    date = http_date(field)
    return date is not None and date == validators.last_modified and validators.last_modified <= int(now) - 1


def http_date(field: list[str]) -> int | None:
    """Seconds since the epoch of a field holding one HTTP-date (section 5.6.7: IMF-fixdate, or the
    obsolete RFC 850 and asctime forms, which are all UTC); None when it is absent, repeated, looks
    like a list of dates, or is not a date, all of which the conditionals must then ignore."""
    if len(field) != 1 or field[0].count(",") > 1:
        return None
    try:
        parts = parsedate_tz(field[0])
        return None if parts is None else calendar.timegm(parts[:6]) - (parts[9] or 0)
    except (ValueError, TypeError, IndexError, OverflowError):  # a year of 5000 digits, or past 9999
        return None


def _members(field: list[str]) -> list[str]:
    return [member.strip(_OWS) for line in field for member in line.split(",") if member.strip(_OWS)]


def _has_members(field: list[str]) -> bool:
    """An If-Match or If-None-Match that lists nothing is treated as absent."""
    return bool(_members(field))


def _tag_matches(field: list[str], etag: str, weak: bool) -> bool:
    """Whether the list of entity tags (or "*", any current representation) matches `etag`, by weak
    comparison (opaque tags equal) or strong (and neither tag weak); members that are not entity tags
    match nothing. `etag` is the server's own, always strong."""
    if "*" in _members(field):
        return True
    return any(tag == etag and (weak or not is_weak) for is_weak, tag in _ENTITY_TAG.findall(",".join(field)))


# --- multipart/byteranges (section 14.6, RFC 2046 section 5.1.1) ---------------------------------

def multipart_frames(parts: list[tuple[int, int]], size: int, content_type: str,
                     boundary: str) -> tuple[list[bytes], bytes]:
    """The bytes before each part of a multipart/byteranges body (its delimiter line and header
    fields) and the close delimiter after the last. A delimiter is CRLF "--" boundary, except that
    the first may omit the CRLF (it would be an empty preamble); the body ends with CRLF after it."""
    heads = []
    for i, (first, last) in enumerate(parts):
        delimiter = f"--{boundary}" if i == 0 else f"\r\n--{boundary}"
        heads.append(f"{delimiter}\r\nContent-Type: {content_type}\r\n"
                     f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n".encode())
    return heads, f"\r\n--{boundary}--\r\n".encode()

"""host/http_semantics.py without a server: byte range sets against a naive model of RFC 9110 section
14.1.1 (every byte a range names, then maximal runs of them), on random sets with huge numbers, leading
zeros and optional whitespace; HTTP-dates against the RFC's own example; and random text, which must
never make a parser raise."""
import sys

from hypothesis import given, settings, strategies as st

from host.http_semantics import MAX_PARTS, byte_ranges, http_date, if_range_holds, precondition_failure, Validators


def reference_parts(specs, size):
    """What RFC 9110 says a set asks for, the slow way: None for an invalid set or too many parts."""
    if any(first is not None and last is not None and last < first for first, last in specs):
        return None
    earliest = {}  # byte -> index of the first range that names it
    for index, (first, last) in enumerate(specs):
        if first is None:
            named = range(max(0, size - last), size) if last > 0 else range(0)
        else:
            named = range(first, min(size - 1 if last is None else last, size - 1) + 1)
        for byte in named:
            earliest.setdefault(byte, index)
    runs = []
    for byte in sorted(earliest):
        if runs and runs[-1][1] == byte - 1:
            runs[-1] = [runs[-1][0], byte, min(runs[-1][2], earliest[byte])]
        else:
            runs.append([byte, byte, earliest[byte]])
    if len(runs) > MAX_PARTS:
        return None
    return [(first, last) for first, last, _ in sorted(runs, key=lambda run: run[2])]


def as_text(value, zeros=0):
    return ("0" * zeros + str(value), value)


small = st.builds(as_text, st.integers(0, 45), st.integers(0, 3))  # with optional leading zeros
huge = st.one_of(st.integers(20, 6000).map(lambda k: ("9" * k, 10**k - 1)),  # past Python's 4300-digit int()
                 st.integers(20, 6000).map(lambda k: ("0" * k + "7", 7)))
int_range = st.builds(lambda first, length, zeros: (as_text(first[1], zeros), as_text(first[1] + length)),
                      small, st.integers(0, 6), st.integers(0, 2))
valid_spec = st.one_of(int_range, int_range, int_range, st.tuples(small | huge, st.none()),
                       st.tuples(small, huge), st.tuples(st.none(), small | huge), st.tuples(huge, huge))
invalid_spec = st.builds(lambda first, less: (as_text(first + less + 1), as_text(first)), st.integers(0, 40),
                         st.integers(0, 30))  # last-pos < first-pos
ows = st.sampled_from(["", " ", "\t", " \t "])


@settings(max_examples=500, deadline=None)
@given(size=st.integers(0, 40), chosen=st.lists(valid_spec, min_size=1, max_size=40), data=st.data())
def test_byte_ranges_match_a_naive_model(size, chosen, data):
    chosen = [(first, last) if first is None or last is None or first[1] <= last[1] else (last, first)
              for first, last in chosen]  # (huge, huge) in either order
    if data.draw(st.integers(0, 9), label="one invalid range in ten sets") == 0:
        chosen.insert(data.draw(st.integers(0, len(chosen))), data.draw(invalid_spec))
    unit = data.draw(st.sampled_from(["bytes", "BYTES", "Bytes"]))
    texts = [f"{'' if first is None else first[0]}-{'' if last is None else last[0]}" for first, last in chosen]
    header = unit + "=" + ",".join(data.draw(ows) + text + data.draw(ows) for text in texts)
    values = [(None if first is None else first[1], None if last is None else last[1]) for first, last in chosen]
    assert byte_ranges([header], size) == reference_parts(values, size)


def spaced(count):
    """count one-byte ranges with a byte between each: nothing merges."""
    return "bytes=" + ",".join(f"{2 * i}-{2 * i}" for i in range(count))


def test_more_than_max_parts_is_ignored_and_max_parts_is_not():
    assert byte_ranges([spaced(MAX_PARTS)], 1000) == [(2 * i, 2 * i) for i in range(MAX_PARTS)]
    assert byte_ranges([spaced(MAX_PARTS + 1)], 1000) is None
    assert byte_ranges(["bytes=" + ",".join(["5-9"] * 3000)], 1000) == [(5, 9)]  # merged before counting


def test_fields_that_are_not_one_bytes_range_set_are_ignored():
    for field in ([], ["bytes=0-1", "bytes=2-3"], ["bytes 0-1"], ["bytes=0-1-"], ["bytes=\u0661-\u0662"],
                  ["bytes=+1-2"], ["bytes=0x1-2"], ["bytes==0-1"], ["none=0-1"]):
        assert byte_ranges(field, 100) is None, field
    assert byte_ranges(["bytes=-0"], 100) == [] and byte_ranges(["bytes=0-"], 0) == []


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("bytes=-,0123456789 \t\"W/*;x\u0663"), max_size=80),
       size=st.integers(0, 50))
def test_no_text_makes_the_parsers_raise(text, size):
    parts = byte_ranges([text], size)
    assert parts is None or all(0 <= first <= last < size for first, last in parts)
    validators = Validators('"1-2"', 1_000_000)
    headers = {"If-Match": [text], "If-None-Match": [text], "If-Modified-Since": [text], "If-Unmodified-Since": [text]}
    assert precondition_failure("GET", lambda name: headers.get(name, []), validators) in (
        None, (412, "If-Match"), (412, "If-Unmodified-Since"), (304, "If-None-Match"), (304, "If-Modified-Since"))
    assert if_range_holds([text], validators, 2_000_000) in (True, False)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60)
       | st.from_regex(r"[A-Za-z]{3}, [0-9]{1,2} [A-Za-z]{3} [0-9]{1,30} [0-9:]{1,12} [A-Z+0-9-]{0,5}"))
def test_no_text_makes_http_date_raise(text):
    assert http_date([text]) is None or isinstance(http_date([text]), int)


def test_http_date_reads_the_three_forms_of_rfc_9110():
    # RFC 9110 section 5.6.7's example, 1994-11-06 08:49:37 UTC, in its three forms
    for text in ("Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"):
        assert http_date([text]) == 784111777, text
    date = "Sun, 06 Nov 1994 08:49:37 GMT"
    for field in ([], [date] * 2, [f"{date}, {date}"], ["Sun, 06 Nov " + "9" * 5000 + " 08:49:37 GMT"], ["yesterday"]):
        assert http_date(field) is None


def test_the_int_digit_limit_is_in_force():
    """The guard the huge-number cases rely on: without it they would not test anything."""
    assert 0 < sys.get_int_max_str_digits() < 6000

"""Property tests of the SMS PDU codec: decoders refuse bad input only with PduError, and what the
encoders write, the decoders read back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.codecs import gsm7
from appliance.codecs.sms_pdu import (
    PduError,
    PortAddress,
    decode_mt_pdu,
    decode_sms_deliver,
    decode_sms_status_report,
    decode_sms_submit,
    encode_sms_deliver,
    encode_sms_deliver_data,
    encode_sms_submit,
)
from tests.support.mutation import mutated

DECODERS = [decode_sms_deliver, decode_sms_status_report, decode_sms_submit, decode_mt_pdu]
FUZZ = settings(max_examples=600, deadline=None)
ROUND_TRIP = settings(max_examples=300, deadline=None)


def decode_everyhow(data: bytes) -> None:
    """Run every decoder, with and without SMSC field; only PduError may come out."""
    for decode in DECODERS:
        for with_smsc in (True, False):
            try:
                decode(data, with_smsc=with_smsc)
            except PduError:
                pass


# --- decoders against hostile input --------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_nothing_but_pdu_error(data):
    decode_everyhow(data)


def octets(min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=min_size, max_size=max_size)


def mostly(usual: object, otherwise: st.SearchStrategy) -> st.SearchStrategy:
    """The *usual* value (or a draw from the usual strategy) about four times in five, else a draw
    from *otherwise*."""
    usual_strategy = usual if isinstance(usual, st.SearchStrategy) else st.just(usual)
    # Hypothesis favours the bounds of a range, so the unusual roll sits in the middle of it.
    return st.integers(0, 4).flatmap(lambda roll: otherwise if roll == 2 else usual_strategy)


@st.composite
def information_elements(draw: st.DrawFn) -> bytes:
    iei = draw(st.sampled_from([0x00, 0x04, 0x05, 0x08, 0x24, 0x25, 0x70]) | st.integers(0, 255))
    size = {0x00: 3, 0x04: 2, 0x05: 4, 0x08: 4, 0x24: 1, 0x25: 1}.get(iei, 2)
    body = draw(octets(size, size) | octets(0, 6))
    # Mostly an honest length octet, sometimes a lie.
    length = draw(mostly(len(body), st.integers(0, 255)))
    return bytes([iei, length]) + body


@st.composite
def user_data(draw: st.DrawFn, dcs: int) -> tuple[bool, bytes]:
    """(TP-UDHI, TP-UDL + TP-UD), mostly consistent with each other and with the DCS."""
    udhi = draw(st.booleans())
    header = b""
    if udhi:
        elements = b"".join(draw(st.lists(information_elements(), max_size=3)))
        header = bytes([draw(mostly(len(elements), st.integers(0, 255)))]) + elements
    body = draw(octets(0, 140))
    ud = header + body
    septets_or_octets = len(ud) * 8 // 7 if dcs & 0x0C == 0 or dcs >> 4 in (0x8, 0xC, 0xD) else len(ud)
    udl = draw(mostly(septets_or_octets, st.integers(0, 255)))
    return udhi, bytes([min(udl, 255)]) + ud


@st.composite
def shaped_pdus(draw: st.DrawFn) -> bytes:
    """A PDU of each message type shaped like the real thing (SMSC field, first octet, address,
    PID, DCS, validity, time stamps, UDH with information elements), its parts mostly consistent,
    so that the decoders get past the headers into the user data."""
    smsc = draw(st.sampled_from([b"\x00", bytes.fromhex("07918406010013F0"), b"\x01\x81", b"\x02\x91"]))
    digits = draw(st.integers(0, 22))
    toa = draw(st.sampled_from([0x91, 0x81, 0xA1, 0xD0]) | st.integers(0, 255))
    value_size = draw(mostly((digits + 1) // 2, st.integers(0, 11)))
    address = bytes([digits, toa]) + draw(octets(value_size, value_size))
    valid_scts = st.sampled_from([bytes.fromhex("42506070809080"), bytes.fromhex("99211332959529")])
    scts = draw(mostly(valid_scts, octets(7, 7)))
    pid = draw(st.integers(0, 255))
    dcs = draw(
        st.sampled_from([0x00, 0x04, 0x08, 0x0C, 0x10, 0xF0, 0xF4, 0xE0, 0xC0, 0x84]) | st.integers(0, 255)
    )
    flags = draw(st.integers(0, 255)) & 0xBC  # every first-octet bit but TP-MTI and TP-UDHI
    kind = draw(st.sampled_from(["deliver", "submit", "status-report"]))
    udhi, ud = draw(user_data(dcs))
    udhi_bit = 0x40 if udhi else 0
    if kind == "deliver":
        return smsc + bytes([0x00 | flags | udhi_bit]) + address + bytes([pid, dcs]) + scts + ud
    if kind == "submit":
        vpf = (flags >> 3) & 0x03
        validity = draw(octets(*{0: (0, 0), 2: (1, 1)}.get(vpf, (7, 7))))
        return smsc + bytes([0x01 | flags | udhi_bit]) + b"\x2a" + address + bytes([pid, dcs]) + validity + ud
    status = draw(st.integers(0, 255))
    return (
        smsc + bytes([0x02 | flags]) + b"\x2a" + address + scts + scts + bytes([status]) + draw(octets(0, 4))
    )


@FUZZ
@given(shaped_pdus())
def test_pdu_shaped_input_raises_nothing_but_pdu_error(data):
    decode_everyhow(data)


# Valid PDUs our encoders wrote, for the mutation fuzzer.
_WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
MUTATION_SEEDS = [
    encode_sms_deliver("+48600100200", "Hello €[]§", _WHEN, smsc="+48601000310")[0],
    encode_sms_deliver("ALLEGRO", "x" * 200, _WHEN)[1],
    encode_sms_deliver("600100200", "Zażółć 😀" * 20, _WHEN)[0],
    encode_sms_deliver_data("+1", bytes(200), _WHEN, ports=PortAddress(2948, 9200, 16))[0],
    encode_sms_submit("+48600100200", "Hi € " * 50, request_status_report=True)[1],
    bytes.fromhex("00062A0B918406100002F0425060708090804250607090002900"),
]


@FUZZ
@given(mutated(MUTATION_SEEDS))
def test_mutated_pdus_raise_nothing_but_pdu_error(data):
    decode_everyhow(data)


# --- round trips ---------------------------------------------------------------------------------


GSM_CHARS = sorted(set(gsm7.DEFAULT_ALPHABET.replace("\x1b", "")) | set(gsm7.DEFAULT_EXTENSION.values()))
phone_numbers = st.from_regex(r"\+?[0-9*#]{1,20}", fullmatch=True)
alphanumeric_senders = st.text(alphabet=GSM_CHARS, min_size=1, max_size=11).filter(
    lambda sender: gsm7.septet_length(sender) <= 11
)
senders = phone_numbers | alphanumeric_senders
# TP-SCTS carries the offset in quarters of an hour, up to 79 either way.
time_zones = st.integers(-79, 79).map(lambda quarters: timezone(timedelta(minutes=15 * quarters)))
timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59), timezones=time_zones
).map(lambda moment: moment.replace(microsecond=0))
# No U+0000: the decoder drops it (PostgreSQL cannot keep it in text).
texts = st.text(st.characters(blacklist_characters="\x00"), max_size=400) | st.text(alphabet=GSM_CHARS, max_size=400)


@ROUND_TRIP
@given(senders, texts, timestamps, st.integers(0, 255), st.none() | st.integers(0, 3))
def test_encode_deliver_then_decode_gives_back_text_sender_and_time(
    sender, text, when, reference, message_class
):
    pdus = encode_sms_deliver(sender, text, when, concat_reference=reference, message_class=message_class)
    parts = [decode_sms_deliver(pdu) for pdu in pdus]
    assert "".join(part.text for part in parts) == text
    for sequence, part in enumerate(parts, start=1):
        assert part.sender == sender
        assert part.timestamp == when
        assert part.timestamp.utcoffset() == when.utcoffset()
        assert part.message_class == message_class
        assert len(part.udh) + len(part.data) <= 140
        if len(parts) > 1:
            assert (part.concat.reference, part.concat.total, part.concat.sequence) == (
                reference,
                len(parts),
                sequence,
            )
        else:
            assert part.concat is None


@ROUND_TRIP
@given(
    phone_numbers,
    texts,
    st.integers(0, 255),
    st.booleans(),
    st.none() | phone_numbers.map(lambda n: "+" + n.lstrip("+")),
)
def test_encode_submit_then_decode_gives_back_text_and_recipient(to, text, reference, status_report, smsc):
    pdus = encode_sms_submit(to, text, reference=reference, request_status_report=status_report, smsc=smsc)
    parts = [decode_sms_submit(pdu) for pdu in pdus]
    assert "".join(part.text for part in parts) == text
    for index, part in enumerate(parts):
        assert part.recipient == to
        assert part.smsc == smsc
        assert part.message_reference == (reference + index) % 256
        assert part.request_status_report == status_report


@ROUND_TRIP
@given(
    senders,
    st.binary(max_size=700),
    timestamps,
    st.none()
    | st.builds(PortAddress, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.just(16))
    | st.builds(PortAddress, st.integers(0, 0xFF), st.integers(0, 0xFF), st.just(8)),
)
def test_encode_deliver_data_then_decode_gives_back_the_octets_and_ports(sender, data, when, ports):
    parts = [decode_sms_deliver(pdu) for pdu in encode_sms_deliver_data(sender, data, when, ports=ports)]
    assert b"".join(part.data for part in parts) == data
    assert all(part.ports == ports and part.text is None for part in parts)

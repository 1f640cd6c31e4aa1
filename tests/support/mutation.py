"""A Hypothesis strategy for fuzzing decoders: valid encodings with octets changed, inserted,
deleted, and maybe cut short, which reach deeper into a decoder than random bytes do."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(list(seeds))))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["set", "insert", "delete"]))
        value = draw(st.integers(0, 255))
        if action == "insert":
            data.insert(position, value)
        elif position < len(data):
            if action == "set":
                data[position] = value
            else:
                del data[position]
    return bytes(data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data)

"""The stored state's codec (engine/store/state.py): what was written stays readable, whichever codec wrote it."""

from __future__ import annotations

import hashlib

import lz4.frame
import pytest

from engine.store import state

#: A state written by codec 1 with dictionary 1. If this stops reading, rows in every database stop reading.
WRITTEN = bytes.fromhex("01432e3311455e62aa99a9a5a55152521230222d130d2ccc0c8c4013898966068969864989c86e0586891e"
                        "3061989a9a201578d4721e00")
TEXT = ('{"data":{},"tasks":[["ae65992bbb3149a08602fb8ca60af1ba",[],1796036049.641554,64,"Start"]],"root":0,'
        '"spec":"national_region","subprocesses":{},"bpmn_events":[]}')


def test_a_state_written_with_dictionary_1_reads_forever():
    """The dictionary is part of the format: edited, every stored state would fail to read."""
    assert hashlib.sha256(state.DICTIONARY_1).hexdigest() == \
        "f011bd401e9711093e2fe73d802f85bee67d0b32b3402c67b32be6995cf46adb"
    assert state.decompress(WRITTEN) == TEXT


@pytest.mark.parametrize("text", ["", TEXT, "地区 " * 5000, '{"data":{"名称":"测试地区\\u0000"}}'])
def test_every_codec_reads_back_the_same_text(text):
    """Codec 1 (a mark, then deflate), an lz4 frame (0012 to 0019), plain bytes (PostgreSQL's text before
    0021) and text all give back the text; codec 1 starts with its mark."""
    written = state.compress(text)
    assert written.startswith(state.DEFLATE_1) and state.decompress(written) == text
    assert state.decompress(memoryview(written)) == text  # as psycopg gives bytea
    assert state.decompress(lz4.frame.compress(text.encode())) == text
    assert state.decompress(text.encode()) == text
    assert state.decompress(text) == text

"""Attacks on the metadata both ways (issue 12), each a defect found after the merge and a
test that failed before its fix:

- a JPEG's EXIF is one APP1 segment of at most 64 KB; with 4000-emoji prompts (the request
  limit) Atelier's JSON, which repeats the prompts, overflowed it and ``write_image``
  raised ``ValueError``: the generation or the social-format output was lost. Now the
  infotext alone is written and every reader, Atelier's own, still reads every field.
- the stealth PNG info reader decoded every pixel of every plain PNG (no metadata) that a
  scan, an import or the parse endpoint met, to look for a 15-byte signature: ~9 ms a
  1 Mpx file, ~130 ms a 16 Mpx one, against 0.04 ms to open it. Now the signature is
  read from the first rows of the first column only, and the pixels are decoded only
  when it is there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from backend.storage.image_params import parse_file_metadata
from tests.test_metadata_written import SEED, assert_every_reader_reads, generated, request, write


# --- a JPEG's 64 KB APP1 segment ---------------------------------------------------------------
@pytest.mark.parametrize(
    "prompt, negative",
    [("🎨" * 4000, "😀" * 4000), ("山、夜明け\r\n" * 571 + "end", "ぼやけた" * 1000)],
    ids=["emoji", "cjk-crlf"],  # the second fitted before too: a guard on what the readers see
)
def test_prompts_at_the_limit_fit_a_jpeg_and_every_reader_reads_them(tmp_path: Path, prompt: str, negative: str):
    req = request(prompt, negative, model="sdxl-base-1.0")
    path = write(tmp_path, "JPEG", req, generated("JPEG", sampler="Euler", cfg_scale=5, steps=30))
    assert_every_reader_reads(path, {
        "prompt": prompt, "negative": negative, "steps": 30, "sampler": "Euler", "cfg": 5,
        "seed": SEED, "size": "64x48", "model": "sdxl-base-1.0",
    })  # fmt: skip
    with Image.open(path) as im:  # Atelier reads its own image back, to the character
        found = parse_file_metadata(im)
    p = found.parameters
    assert (p.prompt, p.negative_prompt, p.seed, p.steps, p.sampler, p.cfg_scale, p.model) == (
        prompt, negative, SEED, 30, "Euler", 5.0, "sdxl-base-1.0")  # fmt: skip


def test_the_json_is_kept_in_a_jpeg_whenever_it_fits(tmp_path: Path):
    path = write(tmp_path, "JPEG", request("a" * 4000, "b" * 4000), generated("JPEG"))
    with Image.open(path) as im:
        found = parse_file_metadata(im)
    assert found.parameters.source == "atelier" and found.job_id == "job-1"

"""The animations play offline, stay small, and draw what the layers compute."""

import json
from pathlib import Path

import numpy as np
import pytest

from mnist_cnn import animations

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


@pytest.mark.parametrize("make", [
    lambda: animations.im2col_animation(np.arange(16.0).reshape(4, 4), kernel=2),
    lambda: animations.channel_stacking_animation(np.arange(18.0).reshape(2, 3, 3), kernel=2),
    lambda: animations.maxpool_routing_animation(
        np.array([[1.0, 1.0], [0.0, 1.0]]), np.array([[2.0]])),
], ids=["im2col", "stacking", "routing"])
def test_player_is_offline_and_small(make):
    html = make().data
    assert "<link" not in html and "fa fa-" not in html
    assert "https://" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert html.count('<img id="_anim_img') == 1 and 'alt="animation:' in html
    assert len(html) < MB


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="C_in > 1"):
        animations.channel_stacking_animation(np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match="z_conv must be"):
        animations.maxpool_routing_animation(np.zeros((3, 4)), np.zeros((2, 2)))


@pytest.mark.parametrize("chapter", ["02", "03", "04"])
def test_chapter_stores_its_animation_within_budget(chapter):
    path = next((ROOT / "notebooks").glob(f"{chapter}_*.ipynb"))
    nb = json.loads(path.read_text())
    players = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
               if "_anim_img" in "".join(o.get("data", {}).get("text/html", ""))]
    assert len(players) == 1
    assert len(json.dumps(players)) <= 2 * MB

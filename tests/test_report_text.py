"""The report's words: a thread count in the singular when it is one, the preset's description once."""
from conftest import TINY

from gankit import api
from gankit.config import load_config


def test_one_thread_and_the_description_once(tmp_path):
    run = api.train("ring-2d", TINY + ["train.steps=4", "train.threads=1", "train.diagnose=false"],
                    out=str(tmp_path / "r"), verbose=False)
    html = (run / "report.html").read_text()
    assert "1 thread," in html and "1 threads" not in html
    assert html.count(load_config("ring-2d").description) == 1

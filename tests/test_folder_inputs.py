"""Folders as users bring them: odd file names, deep greys, grey photos stored as colour, slivers, other formats."""
import os

import numpy as np
import pytest
from PIL import Image

from gankit.config import DataConfig
from gankit.data import data_shape, load_data
from gankit.data.folder import to_8bit, to_square
from gankit.errors import GankitError


def _cfg(folder, **kw):
    return DataConfig(name="folder", path=str(folder), resolution=kw.pop("resolution", 8), min_images=1, **kw)


def test_a_file_name_that_is_not_utf8_is_read_and_printed(tmp_path, capsys):
    Image.new("RGB", (10, 10), (0, 200, 0)).save(tmp_path / "ok.png")
    with open(os.fsencode(tmp_path) + b"/caf\xe9.png", "wb") as f:      # Latin-1 bytes, as old cameras write
        Image.new("RGB", (10, 10), (200, 0, 0)).save(f, "PNG")
    with open(os.fsencode(tmp_path) + b"/bro\xffken.png", "wb") as f:
        f.write(b"no image")
    d = load_data(_cfg(tmp_path, channels=3))
    assert d.images.shape == (2, 3, 8, 8)
    assert "bro\\xffken.png" in capsys.readouterr().err                # named, not a UnicodeEncodeError


@pytest.mark.parametrize("mode,values,expect", [
    ("F", [0.0, 0.5, 1.0], [0, 128, 255]),         # floats in 0..1
    ("F", [0.0, 100.0, 255.0], [0, 100, 255]),     # floats in 0..255
    ("I", [0, 128, 255], [0, 128, 255]),           # 32-bit integers holding 8-bit values
    ("I", [0, 32896, 65535], [0, 128, 255]),       # 32-bit integers holding 16-bit values
    ("I;16", [0, 255, 65535], [0, 1, 255]),        # 16-bit: always its whole range
    ("F", [-1.0, 0.0, 1.0], [0, 128, 255]),        # below 0: min..max
    ("F", [0.0, float("nan"), 1.0], [0, 0, 255]),  # NaN as 0
])
def test_deep_greys_are_scaled_by_the_range_they_hold(mode, values, expect):
    assert to_8bit(np.array(values, np.float64), mode).tolist() == expect


def test_float_and_32_bit_tiffs_keep_their_tones(tmp_path):
    ramp = np.linspace(0, 1, 16, dtype=np.float32)[None].repeat(16, 0)
    Image.fromarray(ramp).save(tmp_path / "float.tif")                  # PIL mode F, 0..1
    Image.fromarray((ramp * 255).astype(np.int32)).save(tmp_path / "int.tif")   # mode I, 0..255
    d = load_data(_cfg(tmp_path, resolution=16))
    assert d.images.shape == (2, 1, 16, 16)
    for img in d.images:
        assert img.max() >= 250 and img.min() <= 5                    # not black (clipped) nor flat


def test_grey_photos_saved_as_rgb_jpeg_train_as_grey(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for i in range(6):
        g = rng.integers(0, 256, (24, 24), dtype=np.uint8)
        Image.fromarray(np.stack([g] * 3, -1)).save(tmp_path / f"{i}.jpg", quality=80)
    cfg = _cfg(tmp_path, resolution=16)
    assert data_shape(cfg) == (1, 16, 16)
    assert load_data(cfg).images.shape == (6, 1, 16, 16)
    assert "every image is grey though stored in colour" in capsys.readouterr().err
    assert load_data(_cfg(tmp_path, resolution=16, channels=3), verbose=False).images.shape == (6, 3, 16, 16)
    # one tinted photo among them: the folder is colour
    sepia = np.stack([rng.integers(100, 200, (24, 24))] * 3, -1) * np.array([1.0, 0.8, 0.6])
    Image.fromarray(sepia.astype(np.uint8)).save(tmp_path / "sepia.jpg")
    assert data_shape(cfg) == (3, 16, 16)


def test_slivers_and_one_pixel_images_become_squares(tmp_path):
    Image.new("RGB", (1, 1), (10, 20, 30)).save(tmp_path / "dot.png")
    strip = np.zeros((3, 30000, 3), np.uint8)
    strip[:, 14990:15010] = 255                               # the centre square is white
    Image.fromarray(strip).save(tmp_path / "strip.png")
    d = load_data(_cfg(tmp_path, channels=3, resolution=16))
    assert d.images.shape == (2, 3, 16, 16)
    assert (d.images[0].flatten(1) == d.images[0][:, :1, :1].flatten(1)).all()   # one colour throughout
    assert d.images[1].min() >= 250


def test_transparent_palette_images_go_over_white():
    p = Image.new("P", (8, 8), 0)
    p.putpalette([0, 0, 0] * 256)
    p.info["transparency"] = 0
    assert (to_square(p, 8, 3) == 255).all()
    pa = Image.new("RGBA", (8, 8), (0, 0, 0, 0)).convert("PA")
    assert (to_square(pa, 8, 3) == 255).all()


def test_a_folder_of_other_formats_says_what_it_holds(tmp_path):
    for i in range(3):
        (tmp_path / f"p{i}.heic").write_bytes(b"\0" * 8)
    (tmp_path / "readme").write_text("x")
    with pytest.raises(GankitError, match=r"only \.heic \(3\), extensionless \(1\) files \(convert them"):
        load_data(_cfg(tmp_path))


def test_a_symlink_loop_is_not_followed(tmp_path):
    Image.new("RGB", (10, 10), (0, 0, 200)).save(tmp_path / "a.png")
    os.symlink(tmp_path, tmp_path / "loop")
    os.symlink(tmp_path / "gone.png", tmp_path / "dangling.png")
    assert load_data(_cfg(tmp_path, channels=3), verbose=False).images.shape == (1, 3, 8, 8)


def test_large_jpegs_decode_at_a_reduced_scale_to_nearly_the_same_image(tmp_path):
    from gankit.data.folder import decode_folder, draft, list_images
    y, x = np.mgrid[0:1200, 0:1600]
    photo = np.stack([(x / 1600 * 255), (y / 1200 * 255), ((x + y) % 200 > 100) * 255.0], -1).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "big.jpg", quality=92)
    images, bad, sides = decode_folder(tmp_path, list_images(tmp_path), 32, 3, verbose=False)
    assert bad == [] and sides == [[1200, 1600]]                      # the size before the reduced decode
    with Image.open(tmp_path / "big.jpg") as im:
        assert im.size == (1600, 1200)
        im.load()                                                      # decoded whole
        full = to_square(im, 32, 3)
    assert np.abs(images[0].numpy().astype(int) - full.astype(int)).mean() < 3
    with Image.open(tmp_path / "big.jpg") as im:
        draft(im, 32)
        im.load()
        assert im.size == (200, 150)                                   # 1/8 scale: shorter side >= 2 x 32


def test_panoramas_are_said_to_lose_their_sides(tmp_path, capsys):
    """Most images far from square: the line says only their centre square is trained on (decoded and cached)."""
    for i in range(3):
        Image.fromarray(np.full((20, 60, 3), 50 * i, np.uint8)).save(tmp_path / f"wide{i}.png")
    Image.fromarray(np.full((30, 30, 3), 200, np.uint8)).save(tmp_path / "square.png")
    for _ in range(2):
        assert load_data(_cfg(tmp_path, channels=3), verbose=True).images.shape == (4, 3, 8, 8)
        assert "3 of the 4 images are longer than 2:1 (median 3.0:1): only the centre square" in capsys.readouterr().err
    for i in range(3):
        (tmp_path / f"wide{i}.png").unlink()
    load_data(_cfg(tmp_path, channels=3), verbose=True)
    assert "longer than 2:1" not in capsys.readouterr().err


def test_hidden_files_and_folders_are_left_out_and_subfolders_are_found(tmp_path):
    from gankit.data.folder import list_images
    for rel in ["a.png", "sub/b.JPG", "sub/deeper/c.webp", ".d.png", ".git/objects/e.png", "sub/.thumbs/f.png",
                "notes.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == \
        ["a.png", "sub/b.JPG", "sub/deeper/c.webp"]


def test_a_very_small_folder_gets_a_line_about_copying(tmp_path, capsys):
    for n, expect in ((12, True), (100, False)):
        folder = tmp_path / f"f{n}"
        folder.mkdir()
        rng = np.random.default_rng(n)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        capsys.readouterr()
        load_data(DataConfig(name="folder", path=str(folder), resolution=8), verbose=True)
        assert ("only 12 images: a GAN can copy a set this small" in capsys.readouterr().err) == expect

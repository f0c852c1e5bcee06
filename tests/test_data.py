import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import load_data
from gankit.data.folder import to_square
from gankit.errors import GankitError


def test_idx_files_load_plain_and_gzip(tiny_mnist):
    train = load_data(DataConfig(name="mnist", root=str(tiny_mnist)), verbose=False)
    test = load_data(DataConfig(name="mnist", root=str(tiny_mnist), split="test"), verbose=False)
    assert train.images.shape == (64, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (32, 1, 28, 28)
    assert train.labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    x = train.batch(torch.arange(4))
    assert x.min() >= -1 and x.max() <= 1 and x.max() == 1 and x.min() == -1


def test_idx_resize_and_classes(tiny_mnist):
    d = load_data(DataConfig(name="mnist", root=str(tiny_mnist), resolution=32, channels=3, classes=[3]),
                  verbose=False)
    assert d.images.shape[1:] == (3, 32, 32) and len(d) == 7
    assert d.class_names == ["3"] and (d.labels == 0).all()   # labels index the classes kept


def test_damaged_idx_file_is_a_clear_error(tiny_mnist):
    (tiny_mnist / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(GankitError, match="damaged"):
        load_data(DataConfig(name="mnist", root=str(tiny_mnist), split="test"), verbose=False)


def test_cifar_batches_and_frog_filter(tiny_cifar):
    import pickle
    with open(tiny_cifar / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        first = pickle.load(f, encoding="bytes")
    d = load_data(DataConfig(name="cifar10", root=str(tiny_cifar), classes=[6], resolution=32, channels=3),
                  verbose=False)
    n_frogs = 0
    for i in range(1, 6):
        with open(tiny_cifar / "cifar-10-batches-py" / f"data_batch_{i}", "rb") as f:
            n_frogs += sum(1 for v in pickle.load(f, encoding="bytes")[b"labels"] if v == 6)
    assert len(d) == n_frogs and d.class_names == ["frog"] and (d.labels == 0).all()
    # the first frog is stored row-major as (3, 32, 32): R plane, then G, then B
    idx = [i for i, v in enumerate(first[b"labels"]) if v == 6]
    if idx:
        expect = torch.from_numpy(first[b"data"][idx[0]].reshape(3, 32, 32))
        assert torch.equal(d.images[0], expect)


def _write_mixed_folder(folder, n_good=10):
    folder.mkdir()
    rng = np.random.default_rng(0)
    modes = ["RGB", "RGBA", "L", "P"]
    exts = [".png", ".jpg", ".webp", ".bmp"]
    for i in range(n_good):
        w, h = int(rng.integers(20, 90)), int(rng.integers(20, 90))
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(modes[i % 4])
        ext = exts[i % 4]
        if ext in (".jpg", ".bmp") and img.mode in ("RGBA", "P"):
            img = img.convert("RGB")
        img.save(folder / f"img{i}{ext}")
    (folder / "broken.png").write_bytes(b"not a png at all")
    (folder / "notes.txt").write_text("ignored")


def test_folder_mixed_sizes_and_modes(tmp_path, capsys):
    folder = tmp_path / "imgs"
    _write_mixed_folder(folder)
    d = load_data(DataConfig(name="folder", path=str(folder), resolution=16, channels=3), verbose=False)
    assert d.images.shape == (10, 3, 16, 16)
    err = capsys.readouterr().err
    assert "skipped 1 unreadable file" in err and "broken.png" in err
    # second load comes from the cache and gives the same tensor
    d2 = load_data(DataConfig(name="folder", path=str(folder), resolution=16, channels=3), verbose=True)
    assert torch.equal(d.images, d2.images) and "from the cache" in capsys.readouterr().err


def test_folder_of_16_bit_greys_keeps_its_tones(tmp_path):
    folder = tmp_path / "grey16"
    folder.mkdir()
    for i, level in enumerate([0, 16384, 32768, 65535]):  # flat 16-bit images
        Image.fromarray(np.full((12, 12), level, np.uint16)).save(folder / f"{i}.png")
    d = load_data(DataConfig(name="folder", path=str(folder), resolution=8, channels=1, min_images=1),
                  verbose=False)
    assert sorted(int(v) for v in d.images.amax(dim=(1, 2, 3))) == [0, 64, 128, 255]


def test_folder_reads_gif_tiff_cmyk_and_exif_rotation(tmp_path):
    folder = tmp_path / "formats"
    folder.mkdir()
    red = Image.new("RGB", (30, 20), (255, 0, 0))
    red.save(folder / "a.gif")                                        # palette, first frame
    red.save(folder / "b.TIFF")                                       # extension in capitals
    red.convert("CMYK").save(folder / "c.jpg")
    tall = Image.new("RGB", (20, 40), (0, 0, 255))
    tall.paste((255, 0, 0), (0, 0, 20, 20))                           # top half red
    exif = tall.getexif()
    exif[0x0112] = 3                                                  # "rotated 180": the viewer shows blue on top
    tall.save(folder / "d.png", exif=exif)
    d = load_data(DataConfig(name="folder", path=str(folder), resolution=8, min_images=1), verbose=False)
    assert d.images.shape == (4, 3, 8, 8)
    r, b = d.images[:3, 0].float().mean(), d.images[:3, 2].float().mean()
    assert r > 200 and b < 60                                         # the three red images stay red
    rotated = d.images[3].float()                                     # centre crop of the upright image
    assert rotated[2, 0].mean() > rotated[0, 0].mean()                # blue above red: EXIF applied


def test_to_square_centre_crops_and_flattens_alpha():
    img = Image.new("RGBA", (40, 20), (0, 0, 0, 0))  # fully transparent -> white
    arr = to_square(img, 10, 3)
    assert arr.shape == (3, 10, 10) and (arr == 255).all()
    gray = to_square(Image.new("L", (30, 60), 7), 12, 1)
    assert gray.shape == (1, 12, 12) and (gray == 7).all()


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GankitError, match="holds no images"):
        load_data(DataConfig(name="folder", path=str(empty)), verbose=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(3):
        (bad / f"x{i}.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(GankitError, match="0 usable image"):
        load_data(DataConfig(name="folder", path=str(bad)), verbose=False)
    with pytest.raises(GankitError, match="does not exist"):
        load_data(DataConfig(name="folder", path=str(tmp_path / "nope")), verbose=False)
    with pytest.raises(GankitError, match=r"is a file, not a folder; pass the folder of images .*data.path=.*bad"):
        load_data(DataConfig(name="folder", path=str(bad / "x0.jpg")), verbose=False)


def test_toy_distributions():
    g = torch.Generator().manual_seed(0)
    ring = load_data(DataConfig(name="ring-2d"), verbose=False)
    x = ring.sample(4000, g)
    assert torch.allclose(x.norm(dim=1).mean(), torch.tensor(1.0), atol=0.01) and len(ring.modes) == 8
    grid = load_data(DataConfig(name="grid-2d"), verbose=False)
    y = grid.sample(4000, g)
    assert len(grid.modes) == 25 and y.abs().max() < 4.5
    nearest = torch.cdist(y, grid.modes).min(1).values
    assert nearest.max() < 0.05 * 6
    one = load_data(DataConfig(name="gaussian-1d", mean=4.0, std=1.25, dim=100), verbose=False).sample(200, g)
    assert one.shape == (200, 100) and abs(one.mean() - 4.0) < 0.05 and abs(one.std() - 1.25) < 0.05


def test_folder_of_small_images_says_they_are_upscaled(tmp_path, capsys):
    for i in range(4):
        Image.fromarray(np.full((28, 28), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    Image.fromarray(np.zeros((80, 80), np.uint8)).save(tmp_path / "big.png")
    cfg = DataConfig(name="folder", path=str(tmp_path), resolution=64, min_images=1)
    for _ in range(2):  # decoded, then from the cache: the line both times
        assert load_data(cfg).images.shape == (5, 1, 64, 64)
        err = capsys.readouterr().err
        assert "4 of the 5 images are smaller than 64x64 (shorter side: median 28 px)" in err
        assert "data.resolution=32 is nearer" in err
    for r in (16, 32):  # no smaller images / 32 is already the size nearest 28
        load_data(DataConfig(name="folder", path=str(tmp_path), resolution=r, min_images=1))
        assert "smaller than" not in capsys.readouterr().err

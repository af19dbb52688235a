"""Folder and Kaggle sources, decoding of every kind of file, and the cache, on fixtures made here."""

import dataclasses
import json
import os
import re
import socket
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from vae_tune.cli import main
from vae_tune.config import DataConfig, DataError, load_study
from vae_tune.data import cache
from vae_tune.data.dataset import load_dataset
from vae_tune.data.decode import decode_image
from vae_tune.data.folder import list_folder
from vae_tune.data.kaggle import list_kaggle, read_styles

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)


def folder_config(path, cache_dir, **fields):
    return DataConfig(**{"source": "folder", "path": str(path), "image_size": 16, "cache_dir": str(cache_dir), "workers": 1, **fields})


def kaggle_config(path, cache_dir, **fields):
    return dataclasses.replace(folder_config(path, cache_dir, **fields), source="kaggle")


def manifest_of(cache_dir):
    (manifest,) = cache_dir.glob("*/manifest.json")
    return json.loads(manifest.read_text())


# --- decoding -------------------------------------------------------------------------------------


def write_png16_rgb(path, array):
    """A 16-bit RGB PNG, which PIL cannot write itself."""
    height, width, _ = array.shape
    raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in array)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def make_zoo(root):
    """One file of each kind a real folder holds; returns the names that must be skipped."""
    root.mkdir(parents=True)
    Image.new("L", (30, 40), 60).save(root / "gray.png")
    Image.new("1", (30, 30), 1).save(root / "bilevel.png")
    Image.new("RGB", (40, 30), RED).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "palette.png")
    transparent_palette = Image.new("P", (20, 20), 0)
    transparent_palette.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    transparent_palette.paste(1, (5, 5, 15, 15))
    transparent_palette.save(root / "palette_transparent.png", transparency=0)
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    rgba.paste((20, 20, 220, 255), (5, 5, 15, 15))
    rgba.save(root / "rgba.png")
    Image.new("CMYK", (24, 24), (0, 255, 255, 0)).save(root / "cmyk.jpg")  # pure red in CMYK
    Image.fromarray(np.full((20, 20), 32896, np.uint16)).save(root / "gray16.png")  # mid-grey, 128 in 8 bits
    write_png16_rgb(root / "rgb16.png", np.tile(np.array([65535, 32896, 0], np.uint16), (20, 20, 1)))
    landscape = Image.new("RGB", (40, 20), RED)
    landscape.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": red ends up on top
    landscape.save(root / "exif_rotated.jpg", exif=exif, quality=95)
    frames = [Image.new("RGB", (16, 16), GREEN), Image.new("RGB", (16, 16), RED)]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:])
    Image.new("RGB", (16, 16), BLUE).save(root / "photo.webp")
    Image.new("RGB", (16, 16), BLUE).save(root / "photo.bmp")
    Image.new("RGB", (16, 16), GREEN).save(root / "png_named.jpg", format="PNG")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "whole.jpg", quality=95)
    (root / "truncated.jpg").write_bytes((root / "whole.jpg").read_bytes()[:2000])
    (root / "empty.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("this is not an image\n")
    (root / "notes.txt").write_text("not an image file name: never listed")
    return {"truncated.jpg", "empty.jpg", "text.jpg"}


def test_every_kind_of_image_decodes_to_rgb_uint8_and_broken_files_are_named(tmp_path, warned):
    broken = make_zoo(tmp_path / "zoo")
    with warned(r"skipped 3 unreadable file\(s\).*empty\.jpg.*text\.jpg.*truncated\.jpg"):
        dataset = load_dataset(folder_config(tmp_path / "zoo", tmp_path / "cache"))
    assert dataset.images.dtype == np.uint8 and dataset.images.shape == (14, 16, 16, 3)
    assert set(dataset.ids) == {p.name for p in (tmp_path / "zoo").iterdir() if p.suffix != ".txt"} - broken
    image = dict(zip(dataset.ids, dataset.images.astype(int)))
    assert image["gray.png"][8, 8].tolist() == [60, 60, 60]
    assert image["gray16.png"][8, 8].tolist() == [128, 128, 128]  # scaled, not clipped to white
    assert image["rgb16.png"][8, 8].tolist() == [255, 128, 0]
    assert image["cmyk.jpg"][8, 8, 0] > 200 and image["cmyk.jpg"][8, 8, 1:].max() < 40
    assert image["palette.png"][8, 8].tolist() == list(RED)
    assert image["palette_transparent.png"][1, 1].tolist() == [255, 255, 255]  # transparent: white, not black
    assert image["palette_transparent.png"][8, 8].tolist() == [200, 0, 0]
    assert image["rgba.png"][1, 1].tolist() == [255, 255, 255] and image["rgba.png"][8, 8].tolist() == list(BLUE)
    assert np.abs(image["animated.gif"][8, 8] - GREEN).max() < 10  # the first frame
    assert np.abs(image["png_named.jpg"][8, 8] - GREEN).max() == 0
    rotated = image["exif_rotated.jpg"]  # a portrait after rotation: white sides, red above blue
    assert rotated[8, 0].tolist() == [255, 255, 255]
    assert rotated[3, 8, 0] > 180 and rotated[3, 8, 2] < 80 and rotated[12, 8, 2] > 180 and rotated[12, 8, 0] < 80

    skipped = manifest_of(tmp_path / "cache")["skipped"]
    assert skipped["count"] == 3
    assert {os.path.basename(entry["path"]) for entry in skipped["files"]} == broken
    assert any("truncated" in entry["reason"] for entry in skipped["files"])


def test_portraits_are_padded_with_white_and_downsampled_smoothly(tmp_path):
    tall = np.zeros((2400, 1800, 3), np.uint8)
    tall[:, :, 0] = 200
    tall[::2] = 0  # one-pixel stripes: nearest-neighbour would keep them, a real filter averages them
    Image.fromarray(tall).save(tmp_path / "tall.jpg", quality=95)
    image = decode_image(tmp_path / "tall.jpg", 32).astype(int)
    assert image.shape == (32, 32, 3)
    assert image[16, :3].tolist() == [[255, 255, 255]] * 3  # sides padded, 24 px of product in the middle
    assert 80 < image[16, 16, 0] < 120 and image[8:24, 8:24, 0].std() < 8


def test_a_narrow_image_is_centred_on_white_with_the_odd_column_on_the_left(tmp_path):
    """A 45x64 image in a 64 px square: 19 white columns to share, 10 on the left and 9 on the right
    (ImageOps.pad rounds the half; cache version 1 put 9 on the left)."""
    Image.new("RGB", (45, 64), (200, 0, 0)).save(tmp_path / "narrow.png")
    image = decode_image(tmp_path / "narrow.png", 64)
    assert image.shape == (64, 64, 3)
    red_columns = np.flatnonzero((image == (200, 0, 0)).all(axis=(0, 2)))
    white_columns = np.flatnonzero((image == 255).all(axis=(0, 2)))
    assert red_columns.tolist() == list(range(10, 55))
    assert white_columns.tolist() == [*range(10), *range(55, 64)]


# --- folder ----------------------------------------------------------------------------------------


def test_folder_labels_come_from_sub_folders(tmp_path):
    for relative, colour in [("shoes/sneakers/a.jpg", RED), ("shoes/sneakers/b.jpg", RED), ("bags/c.png", BLUE),
                             ("top.jpg", GREEN), (".hidden/d.jpg", GREEN), ("bags/._c.png", GREEN)]:
        (tmp_path / "photos" / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (60, 80), colour).save(tmp_path / "photos" / relative, format="PNG")
    listing = list_folder(tmp_path / "photos")
    assert listing.ids == ("bags/c.png", "shoes/sneakers/a.jpg", "shoes/sneakers/b.jpg", "top.jpg")
    assert listing.labels == ("bags", "shoes/sneakers", "shoes/sneakers", "photos")
    dataset = load_dataset(folder_config(tmp_path / "photos", tmp_path / "cache"))
    assert dataset.label_names == ("bags", "photos", "shoes/sneakers")
    assert dataset.labels.tolist() == [0, 2, 2, 1]


def test_folder_without_images_is_a_clear_error(tmp_path, warned):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"data.path: no image file in .*"):
        load_dataset(folder_config(tmp_path, tmp_path / "cache"))
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with warned(), pytest.raises(DataError, match=rf"no usable image in {tmp_path}"):
        load_dataset(folder_config(tmp_path, tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_dataset(folder_config(tmp_path / "missing", tmp_path / "cache"))


def test_samples_picks_a_stable_subset_across_labels(tmp_path):
    for label in ("a", "b", "c"):
        (tmp_path / label).mkdir()
        for i in range(10):
            Image.new("RGB", (8, 8), RED).save(tmp_path / label / f"{i}.png")
    first = load_dataset(folder_config(tmp_path, tmp_path.parent / "cache", samples=12))
    assert len(first) == 12 and len(first.label_names) == 3
    for i in range(10, 15):
        Image.new("RGB", (8, 8), RED).save(tmp_path / "a" / f"{i}.png")
    grown = load_dataset(folder_config(tmp_path, tmp_path.parent / "cache", samples=12))
    assert len(set(first.ids) & set(grown.ids)) >= 12 - 5  # only a newcomer with a lower hash displaces a member


# --- kaggle ----------------------------------------------------------------------------------------

STYLES = """\ufeffid,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName
1001,Men,Apparel,Topwear,Tshirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt
1002,Women,Footwear,Shoes,Heels,Black,Summer,2012,Casual,Catwalk Women Black Heels
1003,Men,Footwear,Shoes,Casual Shoes,White,Fall,2011,Casual,Puma Men, White, Sneakers
1004,Women,Accessories,Bags,Handbags,,Summer,,Casual,Baggit Women Handbag
1005,Men,Footwear,Flip Flops,Flip Flops,Blue,Summer,2012,Casual,Nike Men Blue Flip Flops
1006,Unisex,Footwear,Shoes,Sports Shoes,NA,Fall,2011,Sports,Adidas Unisex Sports Shoes

a line that is not a row
1007,Men,Apparel
1008,Women,Footwear,Sandal,Sandals,Brown,Summer,2012,Casual,"Quoted, comma"
1009,Girls,Footwear,Shoes,Heels,Red,Summer,2012,Casual,Name, with, three, commas,
1002,Women,Footwear,Shoes,Heels,Black,Summer,2012,Casual,A duplicate id
1010,Boys,Apparel,Topwear,Tshirts,Grey,Fall,2011,Casual,"A stray quote, unclosed
1011,Boys,Apparel,Topwear,Tshirts,Green,Fall,2011,Casual,The row after it
"""


@pytest.fixture
def kaggle_dir(tmp_path):
    root = tmp_path / "fashion-product-images-small"
    (root / "images").mkdir(parents=True)
    (root / "styles.csv").write_text(STYLES, encoding="utf-8")
    for image_id in ("1001", "1002", "1003", "1004", "1006", "1008", "1009", "1010", "1011", "9999"):  # 1005 has none
        Image.new("RGB", (60, 80), RED).save(root / "images" / f"{image_id}.jpg")
    return root


def test_styles_rows_with_extra_commas_are_recovered_into_the_name(kaggle_dir):
    styles = read_styles(kaggle_dir / "styles.csv")
    by_id = {row["id"]: row for row in styles.rows}
    assert by_id["1003"]["productDisplayName"] == "Puma Men, White, Sneakers"
    assert by_id["1003"]["usage"] == "Casual"
    assert by_id["1009"]["productDisplayName"] == "Name, with, three, commas,"
    assert by_id["1008"]["productDisplayName"] == "Quoted, comma"
    assert by_id["1010"]["productDisplayName"] == "A stray quote, unclosed"  # and it swallows no later line
    assert by_id["1011"]["productDisplayName"] == "The row after it"
    assert by_id["1004"]["baseColour"] is None and by_id["1004"]["year"] is None
    assert by_id["1006"]["baseColour"] is None
    assert styles.recovered_lines == [4, 12]
    assert styles.unrecoverable_lines == [9, 10]
    assert styles.columns[0] == "id"  # the byte-order mark is not part of the name


@pytest.mark.parametrize(
    "filters, expected, counts_1005",  # 1005 has no image; it only counts when the filters would keep it
    [
        ({}, ["1001", "1002", "1003", "1004", "1006", "1008", "1009", "1010", "1011"], True),
        ({"masterCategory": "footwear"}, ["1002", "1003", "1006", "1008", "1009"], True),
        ({"masterCategory": "Footwear", "articleType": ["Heels", "Sandals"]}, ["1002", "1008", "1009"], False),
        ({"gender": ["Men", "Unisex"], "year": 2011}, ["1001", "1003", "1006"], False),
        ({"baseColour": "NA"}, None, False),  # an NA value matches nothing
    ],
)
def test_filters_select_exactly_the_matching_ids(kaggle_dir, filters, expected, counts_1005, warned):
    if expected is None:
        with warned(), pytest.raises(DataError, match=r"no row of .*styles.csv matches data.filters"):
            list_kaggle(kaggle_dir, filters, "articleType")
        return
    with warned(r"2 unreadable row\(s\) \(lines 9, 10\)") as records:
        listing = list_kaggle(kaggle_dir, filters, "articleType")
    assert ("1 row(s) without an image (ids 1005)" in records[0].getMessage()) == counts_1005
    assert list(listing.ids) == expected
    assert all(os.path.basename(path) == f"{image_id}.jpg" for image_id, path in zip(listing.ids, listing.paths))


def test_kaggle_dataset_carries_labels_and_records_what_it_skipped(kaggle_dir, tmp_path, warned):
    with warned():
        dataset = load_dataset(kaggle_config(kaggle_dir, tmp_path / "cache", label_column="baseColour"))
    assert dataset.images.shape == (9, 16, 16, 3) and dataset.images.dtype == np.uint8
    labels = dict(zip(dataset.ids, (dataset.label_names[label] for label in dataset.labels)))
    assert labels == {"1001": "Navy Blue", "1002": "Black", "1003": "White", "1004": "unknown",
                      "1006": "unknown", "1008": "Brown", "1009": "Red", "1010": "Grey", "1011": "Green"}
    notes = manifest_of(tmp_path / "cache")["source_notes"]
    assert notes["recovered_rows"] == 2 and notes["unrecoverable_rows"] == 2 and notes["unrecoverable_lines"] == [9, 10]
    assert notes["missing_images"] == 1 and notes["missing_ids"] == ["1005"] and notes["duplicate_ids"] == 1


def test_kaggle_errors_name_the_key(kaggle_dir, tmp_path):
    with pytest.raises(DataError, match=r"data.filters.colour: styles.csv has no column 'colour'; columns: id, gender"):
        load_dataset(kaggle_config(kaggle_dir, tmp_path / "cache", filters={"colour": "Red"}))
    with pytest.raises(DataError, match=r"data.label_column: styles.csv has no column 'type'"):
        load_dataset(kaggle_config(kaggle_dir, tmp_path / "cache", label_column="type"))
    with pytest.raises(FileNotFoundError, match=r"has no styles.csv \(the Kaggle layout is styles.csv and images/<id>.jpg\)"):
        load_dataset(kaggle_config(kaggle_dir / "images", tmp_path / "cache"))


def test_study_file_filters_and_the_data_option_choose_the_kaggle_source(kaggle_dir, tmp_path, capsys):
    study = load_study("smoke", [f'data.path="{kaggle_dir}"', 'data.source="kaggle"',
                                 'data.filters.masterCategory="Footwear"', 'data.filters.gender=["Men", "Women"]'])
    assert study.data.filters == {"masterCategory": "Footwear", "gender": ["Men", "Women"]}
    assert main(["show", "smoke", "--data", str(kaggle_dir)]) == 0
    assert f"data       kaggle from {kaggle_dir}" in capsys.readouterr().out
    assert main(["show", "smoke", "--data", str(kaggle_dir / "images")]) == 0
    assert "data       folder from" in capsys.readouterr().out
    assert main(["show", "smoke", "--set", "data.filters.gender=Men"]) == 2
    assert "data.filters: only the kaggle source has columns to filter on" in capsys.readouterr().err
    assert main(["show", "smoke", "--data", str(kaggle_dir), "--set", "data.filters.gender=[]"]) == 2
    assert "data.filters.gender: must be a string, an integer or a non-empty list" in capsys.readouterr().err


# --- the cache --------------------------------------------------------------------------------------


def small_folder(root, count=6):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (40, 30), (i * 40, 0, 0)).save(root / f"{i}.png")
    return root


def test_a_warm_cache_is_memory_mapped_and_never_decodes(tmp_path, monkeypatch):
    config = folder_config(small_folder(tmp_path / "photos"), tmp_path / "cache")
    cold = load_dataset(config)

    def must_not_decode(*args, **kwargs):
        raise AssertionError("a warm cache decoded images")

    monkeypatch.setattr(cache, "decode_many", must_not_decode)
    warm = load_dataset(config)
    assert isinstance(warm.images, np.memmap) and not warm.images.flags.writeable
    np.testing.assert_array_equal(warm.images, cold.images)
    assert warm.ids == cold.ids
    manifest = manifest_of(tmp_path / "cache")
    assert manifest["shape"] == [6, 16, 16, 3] and manifest["files"] == 6 and manifest["root"] == str(tmp_path / "photos")


def test_any_change_to_the_key_inputs_makes_a_new_cache(tmp_path):
    photos = small_folder(tmp_path / "photos")
    config = folder_config(photos, tmp_path / "cache")
    caches = lambda: sorted(p.name for p in (tmp_path / "cache").iterdir())  # noqa: E731
    load_dataset(config)
    assert len(caches()) == 1
    load_dataset(folder_config(photos, tmp_path / "cache", workers=2))  # how it was built is not a key
    assert len(caches()) == 1
    load_dataset(folder_config(photos, tmp_path / "cache", image_size=32))
    assert len(caches()) == 2
    Image.new("RGB", (40, 30), (0, 0, 200)).save(photos / "3.png")  # same name, new content
    changed = load_dataset(config)
    assert len(caches()) == 3 and changed.images[3, 8, 8].tolist() == [0, 0, 200]
    (photos / "5.png").unlink()
    assert len(load_dataset(config)) == 5 and len(caches()) == 4


def test_an_interrupted_build_leaves_no_cache_behind(tmp_path, monkeypatch):
    config = folder_config(small_folder(tmp_path / "photos"), tmp_path / "cache")
    real_decode = cache.decode_many

    def decode_then_interrupt(*args, **kwargs):
        real_decode(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "decode_many", decode_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        load_dataset(config)
    assert list((tmp_path / "cache").iterdir()) == []
    monkeypatch.undo()

    # A build killed outright leaves its partial directory: the next build removes it.
    listing = list_folder(tmp_path / "photos")
    name = f"folder-16px-{cache.cache_key(listing, 16)}"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned = tmp_path / "cache" / f"{name}.partial-{socket.gethostname()}-{int(dead.stdout)}"
    abandoned.mkdir()
    (abandoned / "images.u8").write_bytes(b"\0" * 100)
    assert len(load_dataset(config)) == 6
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [name]


def test_parallel_build_matches_a_single_process_build(tmp_path, warned):
    make_zoo(tmp_path / "zoo")
    with warned():
        one = load_dataset(folder_config(tmp_path / "zoo", tmp_path / "one"))
    with warned():
        two = load_dataset(folder_config(tmp_path / "zoo", tmp_path / "two", workers=2))
    assert one.ids == two.ids
    np.testing.assert_array_equal(one.images, two.images)



def photo_folder(root, count):
    root.mkdir(parents=True)
    for i in range(count):
        Image.new("RGB", (40, 30), (20 * i, 100, 200 - 20 * i)).save(root / f"{i}.png")
    return root


# The default study, local: training.batch_size = 32, validation_fraction = 0.1.
TOO_FEW = ("training.batch_size = 32 needs at least 32 to train on, about 36 images in all at validation_fraction 0.1 "
           "(or a smaller batch_size)")


@pytest.mark.parametrize("count", [1, 3, 10])
def test_a_folder_too_small_to_study_stops_before_ray_naming_the_count_and_what_is_needed(tmp_path, capsys, count):
    from vae_tune.tuning.session import run_study

    photos = photo_folder(tmp_path / "photos", count)
    study = load_study("local", ["data.source=\"folder\"", f'data.path="{photos}"', f'data.cache_dir="{tmp_path / "cache"}"',
                                 f'storage_path="{tmp_path / "results"}"'])
    with pytest.raises(DataError) as refused:
        run_study(study)
    message = str(refused.value)
    assert message.startswith(f"data: {count} usable image{'s' * (count > 1)} in {photos}") and message.endswith(TOO_FEW)
    if count >= 3:  # a split exists: its two sides add up to the count
        train, held_out = map(int, re.search(r"\((\d+) to train on, (\d+) held out\)", message).groups())
        assert train + held_out == count and held_out >= 2
    assert "starting Ray" not in capsys.readouterr().out and not (tmp_path / "results").exists()


@pytest.mark.slow
def test_the_command_on_three_photos_prints_one_line_on_stderr_and_nothing_of_tensorflow(tmp_path):
    photos = photo_folder(tmp_path / "photos", 3)
    done = subprocess.run([sys.executable, "-m", "vae_tune.cli", "run", "--data", str(photos),
                           "--set", f'data.cache_dir="{tmp_path / "cache"}"', "--set", f'storage_path="{tmp_path}/results"'],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 2
    assert done.stderr == f"vae-tune: error: data: 3 usable images in {photos} (1 to train on, 2 held out); {TOO_FEW}\n"

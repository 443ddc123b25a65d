"""Preparing a HAM10000-shaped folder: throughput and memory, against a bare Pillow loop.

Generates a folder in the official layout (``tests/helpers/paper.py``, ``write_ham10000``) of
``NUM_IMAGES`` 600 x 450 JPEGs (one per lesion), then, on the same cores (every core this process
may use), at the size the paper's study prepares (``workflow/configs/paper.yaml``: 224 px):

- the bare loop: a process pool that only decodes, converts to RGB, resizes the shorter side to
  224 and centre-crops each JPEG (nothing is kept);
- ``prepare_dataset`` (loader ``ham10000``, size 224) in a fresh process, for all the images and
  for a third of them (the same files, a shorter metadata CSV), its memory sampled every 50 ms.

Prints images/s of both and their ratio (target: prepare <= 1.5x the bare loop's time), the peak
resident memory of the preparing process and of its whole process tree (workers included) at
both sizes: flat in N when preparation streams.

``--quick`` prepares 30 images.

Usage: .venv/bin/python benchmarks/bench_prepare.py [NUM_IMAGES] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from PIL import Image
from study_settings import PAPER_STUDY, REPO, study_config

sys.path.insert(0, str(REPO))

from rero.data.base import default_workers
from rero.data.images import fit_square
from rero.data.prepare import prepare_dataset
from rero.data.registry import loader_options
from tests.helpers.paper import write_ham10000

NUM_IMAGES, QUICK_IMAGES = 3000, 30
DATASET = "ham10000"
IMAGES_PER_LESION = (1, 1)


def paper_size() -> int:
    """The side the paper's study prepares HAM10000 at (its loader options, defaults filled)."""
    entry = study_config(PAPER_STUDY)["datasets"][DATASET]
    return loader_options(entry["loader"], entry["options"])["size"]


SIZE = paper_size()


def bare_decode(path: str) -> None:
    """What any loader must do per image: decode, convert, resize, crop."""
    with Image.open(path) as image:
        fit_square(image.convert("RGB"), SIZE).tobytes()


def bare_loop(paths: list[str], workers: int) -> float:
    """Seconds for a pool of ``workers`` processes to decode and resize ``paths``."""
    start = time.perf_counter()
    with multiprocessing.get_context("forkserver").Pool(workers) as pool:
        for _ in pool.imap_unordered(bare_decode, paths, chunksize=16):
            pass
    return time.perf_counter() - start


def subset(root: Path, rows: int, where: Path) -> Path:
    """A HAM10000 folder at ``where`` with the first ``rows`` rows of ``root``'s CSV (the image
    folders are links to ``root``'s)."""
    where.mkdir()
    for folder in root.iterdir():
        if folder.is_dir():
            (where / folder.name).symlink_to(folder)
    with open(root / "HAM10000_metadata.csv", newline="") as handle:
        lines = handle.readlines()
    (where / "HAM10000_metadata.csv").write_text("".join(lines[: rows + 1]))
    return where


def prepare_in_child(root: Path, out: Path) -> dict[str, float]:
    """Run one preparation in a fresh interpreter; its time and peak memory (MiB)."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--prepare", str(root), str(out)], stdout=subprocess.PIPE
    )
    process = psutil.Process(child.pid)
    tree_peak = 0
    while child.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            tree_peak = max(tree_peak, sum(part.memory_info().rss for part in tree))
        except psutil.Error:
            pass
        time.sleep(0.05)
    result = json.loads(child.stdout.read())
    return {**result, "tree_peak_mib": tree_peak / 2**20}


def prepare_here(root: str, out: str) -> None:
    """The child: prepare, print seconds and this process's peak resident memory."""
    start = time.perf_counter()
    meta = prepare_dataset("ham", DATASET, {"root": root, "size": SIZE}, out)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    images = sum(split["n"] for split in meta["splits"].values())
    print(json.dumps({"seconds": seconds, "images": images, "main_peak_mib": peak}))


def run(num_images: int = NUM_IMAGES, print_fn: Callable[[str], None] = print) -> dict:
    """Generate, time and measure; returns the numbers printed."""
    workers = default_workers()
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        root = write_ham10000(Path(scratch) / "HAM10000", num_images, IMAGES_PER_LESION)
        print_fn(f"generated {num_images} 600x450 JPEGs in {time.perf_counter() - start:.1f} s")
        with open(root / "HAM10000_metadata.csv", newline="") as handle:
            ids = [row["image_id"] for row in csv.DictReader(handle)]
        found = {path.stem: str(path) for path in root.rglob("*.jpg")}
        paths = [found[image] for image in ids]
        bare = bare_loop(paths, workers)
        full = prepare_in_child(root, Path(scratch) / "full")
        third = subset(root, num_images // 3, Path(scratch) / "third")
        small = prepare_in_child(third, Path(scratch) / "small")
    bare_rate, prepare_rate = num_images / bare, full["images"] / full["seconds"]
    print_fn(f"{workers} worker processes, {SIZE} px")
    print_fn(f"  bare decode+resize loop: {bare_rate:7.1f} images/s")
    print_fn(f"  prepare_dataset:         {prepare_rate:7.1f} images/s")
    print_fn(f"  time ratio prepare / bare: {bare_rate / prepare_rate:.2f} (target <= 1.5)")
    for label, result in ((f"{num_images // 3} images", small), (f"{num_images} images", full)):
        print_fn(
            f"  peak RSS at {label:>12}: main process {result['main_peak_mib']:6.0f} MiB, "
            f"process tree {result['tree_peak_mib']:6.0f} MiB"
        )
    return {"bare_rate": bare_rate, "prepare_rate": prepare_rate, "full": full, "small": small}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("num_images", type=int, nargs="?", default=NUM_IMAGES)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_IMAGES} images")
    parser.add_argument("--prepare", nargs=2, metavar=("ROOT", "OUT"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.prepare:
        prepare_here(*arguments.prepare)
    else:
        run(QUICK_IMAGES if arguments.quick else arguments.num_images)

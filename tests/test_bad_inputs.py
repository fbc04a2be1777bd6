"""Bad inputs, every command: exit status 2, one ``error:`` line, no traceback, nothing written.

Table-driven (issue 15). Each case copies the small shared inputs it names (``{store}``,
``{slices}``, ...) into its own ``tmp_path``, optionally damages them (``prep``), runs the
command in-process (``liberation.cli.main``) and checks:

- the exit status is 2;
- stderr is exactly one line, starting with ``error:`` (click usage errors included: the
  command line prints them as one line too), and holds no ``Traceback``;
- the whole ``tmp_path`` tree (every input file, byte for byte, and the list of paths,
  hidden ones included) is the same after the run: inputs untouched, no output under its
  final name, no temporary left.

A few cases also run as real subprocesses (``python -m liberation``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tifffile

from liberation.cli import main

# --------------------------------------------------------------------------- shared inputs
NAMES = ("store", "slices", "stack", "maps", "sem", "minerals", "model", "onnx", "images", "file", "scan", "mask",
         "badpt")


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Path:
    """Small inputs, built once: copy what a case needs, never use them in place."""
    from PIL import Image

    from liberation.io.sem import write_mineral_list
    from liberation.minerals import spodumene_ore
    from liberation.workflows.demo import make_demo_store

    root = tmp_path_factory.mktemp("bad_inputs_lib")
    folder = root / "demo"
    folder.mkdir()
    path = make_demo_store(folder, size=16, seed=0)
    from liberation.io import open_store

    store = open_store(path, mode="r+")
    sparse = np.full(store.shape, 255, np.uint8)
    sparse[8] = np.asarray(store.label("phases"))[8]
    store.write_label("sparse", sparse)
    shutil.move(str(path), root / "store")
    shutil.rmtree(folder)

    rng = np.random.default_rng(0)
    (root / "slices").mkdir()
    for z in range(4):
        tifffile.imwrite(root / "slices" / f"slice_{z:03d}.tif", rng.integers(0, 1000, (16, 16), dtype=np.uint16))
    tifffile.imwrite(root / "stack", rng.integers(0, 1000, (4, 16, 16), dtype=np.uint16), photometric="minisblack")
    (root / "scan" / "slices").mkdir(parents=True)
    for z in range(4):
        shutil.copy(root / "slices" / f"slice_{z:03d}.tif", root / "scan" / "slices")
    (root / "scan" / "README.txt").write_text("my notes\n")

    (root / "maps").mkdir()
    for element in ("Fe", "Si", "K"):
        np.savetxt(root / "maps" / f"{element}.txt", rng.integers(0, 100, (16, 16)), fmt="%d")

    minerals = spodumene_ore()
    write_mineral_list(root / "minerals", minerals)
    colours = [m.color for m in minerals][:2]
    rgb = np.zeros((16, 16, 3), np.uint8)
    for i, colour in enumerate(colours):
        rgb[:, 8 * i: 8 * (i + 1)] = [int(colour[k: k + 2], 16) for k in (1, 3, 5)]
    Image.fromarray(rgb).save(root / "sem", format="PNG")

    # a model folder with a valid card and garbage weights
    from liberation.model_folder import write_model_folder
    from liberation.segmentation.card import ModelCard
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.model import network_params

    config = get_preset("tiny")
    card = ModelCard(task="phases", class_ids=[0, 1, 2], class_names=["void", "a", "b"], in_channels=1,
                     patch_size=[16, 16, 16], voxel_size_um=[10.0, 10.0, 10.0],
                     normalization={"method": "percentile", "low": 0.0, "high": 1.0},
                     network=network_params(config, in_channels=1, out_channels=3))
    write_model_folder(root / "model", card.to_model_card())
    (root / "model" / "model.pt").write_bytes(b"\x80\x04garbage, not a pickle" * 8)
    (root / "onnx").write_bytes(b"\x08\x07garbage, not an onnx protobuf" * 8)
    (root / "images").mkdir()
    Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(root / "images" / "a.png")
    Image.fromarray((rng.random((32, 32)) > 0.5).astype(np.uint8) * 255).save(root / "mask", format="PNG")
    (root / "file").write_text("a file, not a folder\n")
    # a .pt whose unpickling needs a global torch refuses with weights_only=True
    (root / "badpt").mkdir()
    try:
        import datetime

        import torch

        torch.save({"when": datetime.date(2020, 1, 1)}, root / "badpt" / "model.pt")
    except ImportError:  # pragma: no cover - without torch the cases needing it are skipped
        pass
    shutil.copy(root / "model" / "model_card.json", root / "badpt" / "model_card.json")
    return root


SUFFIX = {"store": "s.zarr", "stack": "stack.tif", "sem": "sem.png", "minerals": "minerals.csv",
          "onnx": "model.onnx", "file": "file.txt", "mask": "mask.png"}


def _place(lib: Path, tmp: Path, name: str) -> Path:
    src, dst = lib / name, tmp / SUFFIX.get(name, name)
    if not dst.exists():
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy(src, dst)
    return dst


def tree_state(root: Path) -> dict[str, str]:
    """Every path under ``root`` (hidden ones too) -> sha256 of its bytes, or 'dir'."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            state[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            state[os.path.relpath(p, root)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return state


# --------------------------------------------------------------------------- damage helpers
def _chunk_files(array_dir: Path) -> list[Path]:
    return sorted(p for p in array_dir.rglob("*") if p.is_file() and p.name not in ("zarr.json", ".zarray", ".zattrs"))


def drop_chunk(rel: str) -> Callable[[Path], None]:
    def prep(tmp: Path) -> None:
        _chunk_files(tmp / "s.zarr" / rel)[0].unlink()
    return prep


def garble_chunk(rel: str) -> Callable[[Path], None]:
    def prep(tmp: Path) -> None:
        _chunk_files(tmp / "s.zarr" / rel)[0].write_bytes(b"\x00garbage bytes, not a chunk" * 4)
    return prep


def truncate(rel: str, keep: int = 40) -> Callable[[Path], None]:
    def prep(tmp: Path) -> None:
        p = tmp / rel
        p.write_bytes(p.read_bytes()[:keep])
    return prep


def edit_json(rel: str, edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def prep(tmp: Path) -> None:
        p = tmp / rel
        meta = json.loads(p.read_text())
        edit(meta)
        p.write_text(json.dumps(meta))
    return prep


def _scale(meta: dict, value) -> None:
    ms = meta["attributes"]["ome"]["multiscales"][0]
    ms["datasets"][0]["coordinateTransformations"][0]["scale"] = value


def _label_props(meta: dict) -> None:
    meta["attributes"]["ome"]["image-label"]["properties"] = "not a list"


def user_folder(name: str = "docs") -> Callable[[Path], None]:
    def prep(tmp: Path) -> None:
        (tmp / name).mkdir(exist_ok=True)
        (tmp / name / "notes.txt").write_text("precious\n")
    return prep


def write_file(name: str, data: bytes | str) -> Callable[[Path], None]:
    def prep(tmp: Path) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return prep


def map_values(value: float, count: int = 3) -> Callable[[Path], None]:
    def prep(tmp: Path) -> None:
        p = tmp / "maps" / "Fe.txt"
        m = np.loadtxt(p)
        m.flat[:count] = value
        np.savetxt(p, m, fmt="%g")
    return prep


def chain(*preps: Callable[[Path], None]) -> Callable[[Path], None]:
    def prep(tmp: Path) -> None:
        for p in preps:
            p(tmp)
    return prep


# --------------------------------------------------------------------------- the table
@dataclass
class Case:
    id: str
    argv: str
    expect: str = ""
    prep: Callable[[Path], None] | None = None
    needs: tuple[str, ...] = field(default_factory=tuple)

    @property
    def command(self) -> str:
        return self.id.split(":")[0]


S = "{store}"
C = [
    # ---- global
    Case("global:unknown-command", "frobnicate", "no such command"),
    Case("global:unknown-option", "--frobnicate info x", "no such option"),
    # ---- convert
    Case("convert:src-missing", "convert {tmp}/nope {tmp}/out.zarr --voxel-size 10", "nope"),
    Case("convert:src-empty-folder", "convert {tmp}/empty {tmp}/out.zarr --voxel-size 10", "empty",
         prep=lambda t: (t / "empty").mkdir()),
    Case("convert:voxel-abc", "convert {slices} {tmp}/out.zarr --voxel-size abc", "--voxel-size"),
    Case("convert:voxel-two-values", "convert {slices} {tmp}/out.zarr --voxel-size 1,2", "--voxel-size"),
    Case("convert:voxel-negative", "convert {slices} {tmp}/out.zarr --voxel-size -1", "voxel"),
    Case("convert:voxel-zero", "convert {slices} {tmp}/out.zarr --voxel-size 0", "voxel"),
    Case("convert:voxel-nan", "convert {slices} {tmp}/out.zarr --voxel-size nan", "voxel"),
    Case("convert:voxel-inf", "convert {slices} {tmp}/out.zarr --voxel-size 1,inf,1", "voxel"),
    Case("convert:chunks-zero", "convert {slices} {tmp}/out.zarr --voxel-size 10 --chunks 0", "chunks"),
    Case("convert:chunks-negative", "convert {slices} {tmp}/out.zarr --voxel-size 10 --chunks -4", "chunks"),
    Case("convert:chunks-text", "convert {slices} {tmp}/out.zarr --voxel-size 10 --chunks abc", "--chunks"),
    Case("convert:pyramid-negative", "convert {slices} {tmp}/out.zarr --voxel-size 10 --pyramid-levels -1",
         "pyramid"),
    Case("convert:ngff-bad", "convert {slices} {tmp}/out.zarr --voxel-size 10 --ngff 0.3", "--ngff"),
    Case("convert:no-voxel-size", "convert {slices} {tmp}/out.zarr", "voxel size"),
    Case("convert:slices-slices", "convert {slices} {slices} --voxel-size 10", "slices"),
    Case("convert:slices-slices-overwrite", "convert {slices} {slices} --voxel-size 10 --overwrite", "slices"),
    Case("convert:into-own-parent", "convert {scan}/slices {scan} --voxel-size 10 --overwrite", "scan"),
    Case("convert:inside-input", "convert {slices} {slices}/out.zarr --voxel-size 10", "inside"),
    Case("convert:stack-stack", "convert {stack} {stack} --voxel-size 10 --overwrite", "stack.tif"),
    Case("convert:user-folder-overwrite", "convert {slices} {tmp}/docs --voxel-size 10 --overwrite",
         "not written by liberation", prep=user_folder()),
    Case("convert:existing-store", "convert {slices} {store} --voxel-size 10", "already exists"),
    Case("convert:under-a-file", "convert {slices} {file}/out.zarr --voxel-size 10", "file.txt"),
    Case("convert:corrupt-tiff", "convert {tmp}/bad.tif {tmp}/out.zarr --voxel-size 10", "bad.tif",
         prep=write_file("bad.tif", b"II*\x00garbage")),
    Case("convert:slice-shapes-differ", "convert {slices} {tmp}/out.zarr --voxel-size 10", "shape",
         prep=lambda t: tifffile.imwrite(t / "slices" / "slice_004.tif", np.zeros((8, 8), np.uint16))),
    # ---- info
    Case("info:missing", "info {tmp}/nope.zarr", "does not exist"),
    Case("info:empty-folder", "info {tmp}/empty", "empty", prep=lambda t: (t / "empty").mkdir()),
    Case("info:a-file", "info {file}", "file.txt"),
    Case("info:truncated-label-json", f"info {S}", "labels/phases", prep=truncate("s.zarr/labels/phases/zarr.json")),
    Case("info:voxel-scale-abc", f"info {S}", "scale",
         prep=edit_json("s.zarr/zarr.json", lambda m: _scale(m, ["abc", 10.0, 10.0]))),
    Case("info:properties-not-a-list", f"info {S}", "properties",
         prep=edit_json("s.zarr/labels/phases/zarr.json", _label_props)),
    Case("info:check-missing-chunk", f"info --check {S}", "missing", prep=drop_chunk("labels/phases/0")),
    Case("info:check-missing-image-chunk", f"info --check {S}", "missing", prep=drop_chunk("0")),
    Case("info:check-deep-corrupt-chunk", f"info --check --deep {S}", "corrupt",
         prep=garble_chunk("labels/particles/0")),
    Case("info:check-missing-store", "info --check {tmp}/nope.zarr", "does not exist"),
    Case("info:check-label-scale", f"info --check {S}", "scale",
         prep=edit_json("s.zarr/labels/phases/zarr.json", lambda m: _scale(m, [20.0, 20.0, 20.0]))),
    # ---- report
    Case("report:missing-store", "report {tmp}/nope.zarr --out {tmp}/r", "does not exist"),
    Case("report:liberated-at-zero", f"report {S} --out {{tmp}}/r --liberated-at 0", "--liberated-at"),
    Case("report:liberated-at-text", f"report {S} --out {{tmp}}/r --liberated-at abc", "--liberated-at"),
    Case("report:liberated-at-big", f"report {S} --out {{tmp}}/r --liberated-at 1.5", "--liberated-at"),
    Case("report:sections-bad", f"report {S} --out {{tmp}}/r --sections q", "--sections"),
    Case("report:sections-repeat", f"report {S} --out {{tmp}}/r --sections z,z", "--sections"),
    Case("report:spacing-zero", f"report {S} --out {{tmp}}/r --section-spacing 0", "--section-spacing"),
    Case("report:spacing-text", f"report {S} --out {{tmp}}/r --section-spacing x", "--section-spacing"),
    Case("report:size-classes-order", f"report {S} --out {{tmp}}/r --size-classes 100,63", "--size-classes"),
    Case("report:size-classes-text", f"report {S} --out {{tmp}}/r --size-classes abc", "--size-classes"),
    Case("report:target-unknown", f"report {S} --out {{tmp}}/r --target unobtainium", "unobtainium"),
    Case("report:out-exists", f"report {S} --out {{tmp}}/docs", "already exists", prep=user_folder()),
    Case("report:out-user-folder-overwrite", f"report {S} --out {{tmp}}/docs --overwrite",
         "not written by liberation", prep=user_folder()),
    Case("report:out-contains-store", f"report {S} --out {S}/.. --overwrite", "s.zarr"),
    Case("report:out-inside-store", f"report {S} --out {S}/report", "overlap"),
    Case("report:out-under-a-file", f"report {S} --out {{file}}/r", "file.txt"),
    Case("report:missing-phase-chunk", f"report {S} --out {{tmp}}/r", "missing", prep=drop_chunk("labels/phases/0")),
    Case("report:missing-particle-chunk", f"report {S} --out {{tmp}}/r", "missing",
         prep=drop_chunk("labels/particles/0")),
    Case("report:corrupt-phase-chunk", f"report {S} --out {{tmp}}/r", "labels/phases",
         prep=garble_chunk("labels/phases/0")),
    Case("report:no-phases", f"report {S} --out {{tmp}}/r", "phases",
         prep=lambda t: (shutil.rmtree(t / "s.zarr/labels/phases"), edit_json(
             "s.zarr/labels/zarr.json", lambda m: m["attributes"]["ome"].update(labels=["particles", "sparse"]))(t))),
    Case("report:truncated-label-json", f"report {S} --out {{tmp}}/r", "labels/phases",
         prep=truncate("s.zarr/labels/phases/zarr.json")),
    Case("report:properties-not-a-list", f"report {S} --out {{tmp}}/r", "properties",
         prep=edit_json("s.zarr/labels/phases/zarr.json", _label_props)),
    Case("report:label-scale-disagrees", f"report {S} --out {{tmp}}/r", "scale",
         prep=edit_json("s.zarr/labels/phases/zarr.json", lambda m: _scale(m, [20.0, 20.0, 20.0]))),
    Case("report:voxel-scale-abc", f"report {S} --out {{tmp}}/r", "scale",
         prep=edit_json("s.zarr/zarr.json", lambda m: _scale(m, ["abc", 10.0, 10.0]))),
    # ---- labels xrf
    Case("labels-xrf:maps-missing", "labels xrf {tmp}/nope --clusters 3 --out {tmp}/o", "nope"),
    Case("labels-xrf:maps-empty", "labels xrf {tmp}/empty --clusters 3 --out {tmp}/o", "no element map",
         prep=lambda t: (t / "empty").mkdir()),
    Case("labels-xrf:clusters-text", "labels xrf {maps} --pixel-size 10 --clusters abc --out {tmp}/o", "--clusters"),
    Case("labels-xrf:clusters-zero", "labels xrf {maps} --pixel-size 10 --clusters 0 --out {tmp}/o", "clusters"),
    Case("labels-xrf:clusters-negative", "labels xrf {maps} --pixel-size 10 --clusters -3 --out {tmp}/o",
         "clusters"),
    Case("labels-xrf:pixel-negative", "labels xrf {maps} --pixel-size -1 --clusters 3 --out {tmp}/o", "pixel"),
    Case("labels-xrf:pixel-zero", "labels xrf {maps} --pixel-size 0 --clusters 3 --out {tmp}/o", "pixel"),
    Case("labels-xrf:scaling-bad", "labels xrf {maps} --pixel-size 10 --clusters 3 --scaling foo --out {tmp}/o",
         "--scaling"),
    Case("labels-xrf:out-is-maps", "labels xrf {maps} --pixel-size 10 --clusters 3 --out {maps} --overwrite",
         "maps"),
    Case("labels-xrf:out-contains-maps", "labels xrf {maps} --pixel-size 10 --clusters 3 --out {maps}/.. --overwrite",
         "maps"),
    Case("labels-xrf:out-user-folder", "labels xrf {maps} --pixel-size 10 --clusters 3 --out {tmp}/docs --overwrite",
         "not written by liberation", prep=user_folder()),
    Case("labels-xrf:nan-counts", "labels xrf {maps} --pixel-size 10 --clusters 3 --out {tmp}/o", "nan",
         prep=map_values(np.nan)),
    Case("labels-xrf:inf-counts", "labels xrf {maps} --pixel-size 10 --clusters 3 --out {tmp}/o", "inf",
         prep=map_values(np.inf)),
    Case("labels-xrf:negative-counts", "labels xrf {maps} --pixel-size 10 --clusters 3 --out {tmp}/o", "negative",
         prep=map_values(-5.0)),
    Case("labels-xrf:shapes-differ", "labels xrf {maps} --pixel-size 10 --clusters 3 --out {tmp}/o", "shape",
         prep=lambda t: np.savetxt(t / "maps" / "Ca.txt", np.ones((8, 8)), fmt="%d")),
    Case("labels-xrf:element-missing", "labels xrf {maps} --pixel-size 10 --clusters 3 --elements Xe --out {tmp}/o",
         "Xe"),
    Case("labels-xrf:n-init-zero", "labels xrf {maps} --pixel-size 10 --clusters 3 --n-init 0 --out {tmp}/o",
         "n_init"),
    Case("labels-xrf:ct-slice-missing",
         "labels xrf {maps} --pixel-size 10 --clusters 3 --ct-slice {tmp}/ct.tif --out {tmp}/o", "ct.tif"),
    Case("labels-xrf:reference-missing",
         "labels xrf {maps} --pixel-size 10 --clusters 3 --reference {tmp}/sig.csv --out {tmp}/o", "sig.csv"),
    Case("labels-xrf:minerals-missing",
         "labels xrf {maps} --pixel-size 10 --clusters 3 --minerals {tmp}/min.csv --out {tmp}/o", "min.csv"),
    Case("labels-xrf:text-map-garbage", "labels xrf {maps} --pixel-size 10 --clusters 3 --out {tmp}/o", "Fe.txt",
         prep=write_file("maps/Fe.txt", "1 2 3\n4 x 6\n")),
    Case("labels-xrf:missing-clusters", "labels xrf {maps} --pixel-size 10 --out {tmp}/o", "--clusters"),
    # ---- labels sem
    Case("labels-sem:image-missing", "labels sem {tmp}/nope.png --minerals {minerals} --pixel-size 1 --out {tmp}/o",
         "nope.png"),
    Case("labels-sem:pixel-zero", "labels sem {sem} --minerals {minerals} --pixel-size 0 --out {tmp}/o", "pixel"),
    Case("labels-sem:tolerance-negative",
         "labels sem {sem} --minerals {minerals} --pixel-size 1 --tolerance -1 --out {tmp}/o", "tolerance"),
    Case("labels-sem:background-bad",
         "labels sem {sem} --minerals {minerals} --pixel-size 1 --background notacolour --out {tmp}/o", "notacolour"),
    Case("labels-sem:minerals-missing", "labels sem {sem} --minerals {tmp}/m.csv --pixel-size 1 --out {tmp}/o",
         "m.csv"),
    Case("labels-sem:minerals-garbage", "labels sem {sem} --minerals {tmp}/m.csv --pixel-size 1 --out {tmp}/o",
         "m.csv", prep=write_file("m.csv", "a,b\n1,2\n")),
    Case("labels-sem:no-minerals-option", "labels sem {sem} --pixel-size 1 --out {tmp}/o", "--minerals"),
    Case("labels-sem:corrupt-image", "labels sem {tmp}/bad.png --minerals {minerals} --pixel-size 1 --out {tmp}/o",
         "bad.png", prep=write_file("bad.png", b"\x89PNG garbage")),
    Case("labels-sem:out-contains-image", "labels sem {sem} --minerals {minerals} --pixel-size 1 --out {tmp} "
         "--overwrite", "contains"),
    # ---- register
    Case("register:store-missing", "register {tmp}/nope.zarr {maps}/Fe.txt --pixel-size 10 --out {tmp}/o",
         "nope.zarr"),
    Case("register:map-missing", f"register {S} {{tmp}}/nope.tif --pixel-size 10 --out {{tmp}}/o", "nope.tif"),
    Case("register:pixel-negative", f"register {S} {{maps}}/Fe.txt --pixel-size -1 --out {{tmp}}/o", "pixel"),
    Case("register:pixel-text", f"register {S} {{maps}}/Fe.txt --pixel-size abc --out {{tmp}}/o", "--pixel-size"),
    Case("register:workers-zero", f"register {S} {{maps}}/Fe.txt --pixel-size 10 --workers 0 --out {{tmp}}/o",
         "--workers"),
    Case("register:workers-negative", f"register {S} {{maps}}/Fe.txt --pixel-size 10 --workers -2 --out {{tmp}}/o",
         "--workers"),
    Case("register:threads-zero", f"register {S} {{maps}}/Fe.txt --pixel-size 10 --threads 0 --out {{tmp}}/o",
         "--threads"),
    Case("register:axis-bad", f"register {S} {{maps}}/Fe.txt --pixel-size 10 --axis w --out {{tmp}}/o", "--axis"),
    Case("register:out-user-folder", f"register {S} {{maps}}/Fe.txt --pixel-size 10 --out {{tmp}}/docs --overwrite",
         "not written by liberation", prep=user_folder()),
    Case("register:out-is-store", f"register {S} {{maps}}/Fe.txt --pixel-size 10 --out {S} --overwrite", "s.zarr"),
    Case("register:labels-missing",
         f"register {S} {{maps}}/Fe.txt --pixel-size 10 --labels {{tmp}}/l.tif --out {{tmp}}/o", "l.tif"),
    Case("register:map-garbage", f"register {S} {{tmp}}/bad.tif --pixel-size 10 --out {{tmp}}/o", "bad.tif",
         prep=write_file("bad.tif", b"II*\x00garbage")),
    Case("register:missing-ct-chunk", f"register {S} {{maps}}/Fe.txt --pixel-size 10 --out {{tmp}}/o", "missing",
         prep=drop_chunk("0")),
    # ---- train (fails before any training)
    Case("train:store-missing", "train {tmp}/nope.zarr --out {tmp}/m", "nope.zarr"),
    Case("train:channels-zero", f"train {S} --out {{tmp}}/m --channels 0,0", "--channels"),
    Case("train:channels-text", f"train {S} --out {{tmp}}/m --channels a,b", "--channels"),
    Case("train:channels-negative", f"train {S} --out {{tmp}}/m --channels -8,16", "--channels"),
    Case("train:patch-zero", f"train {S} --out {{tmp}}/m --patch 0,0,0", "--patch"),
    Case("train:patch-two", f"train {S} --out {{tmp}}/m --patch 16,16", "--patch"),
    Case("train:max-time-negative", f"train {S} --out {{tmp}}/m --max-time -5", "--max-time"),
    Case("train:max-time-zero", f"train {S} --out {{tmp}}/m --max-time 0", "--max-time"),
    Case("train:epochs-zero", f"train {S} --out {{tmp}}/m --epochs 0", "--epochs"),
    Case("train:lr-negative", f"train {S} --out {{tmp}}/m --lr -1", "--lr"),
    Case("train:threads-zero", f"train {S} --out {{tmp}}/m --threads 0", "--threads"),
    Case("train:bootstrap-planes-negative", f"train {S} --out {{tmp}}/m --bootstrap-planes -1", "--bootstrap-planes"),
    Case("train:val-planes-text", f"train {S} --out {{tmp}}/m --val-planes a", "--val-planes"),
    Case("train:out-is-store", f"train {S} --out {S} --overwrite", "s.zarr"),
    Case("train:out-user-folder", f"train {S} --out {{tmp}}/docs --overwrite", "not written by liberation",
         prep=user_folder()),
    Case("train:missing-sparse-chunk", f"train {S} --out {{tmp}}/m", "missing", prep=drop_chunk("labels/sparse/0"),
         needs=("torch",)),
    # ---- segment
    Case("segment:overlap-big", f"segment {S} --model {{model}} --overlap 1.5", "--overlap"),
    Case("segment:overlap-one", f"segment {S} --model {{model}} --overlap 1", "--overlap"),
    Case("segment:overlap-negative", f"segment {S} --model {{model}} --overlap -0.1", "--overlap"),
    Case("segment:slab-zero", f"segment {S} --model {{model}} --slab 0", "--slab"),
    Case("segment:slab-negative", f"segment {S} --model {{model}} --slab -1", "--slab"),
    Case("segment:min-size-negative", f"segment {S} --model {{model}} --min-size -1", "--min-size"),
    Case("segment:threads-zero", f"segment {S} --model {{model}} --threads 0", "--threads"),
    Case("segment:model-missing", f"segment {S} --model {{tmp}}/nope", "nope"),
    Case("segment:task-bad", f"segment {S} --model {{model}} --task foo", "--task"),
    Case("segment:model-no-card", f"segment {S} --model {{tmp}}/empty", "model_card.json",
         prep=lambda t: (t / "empty").mkdir()),
    Case("segment:card-truncated", f"segment {S} --model {{model}}", "model_card.json",
         prep=truncate("model/model_card.json")),
    Case("segment:corrupt-weights", f"segment {S} --model {{model}}", "model.pt", needs=("torch",)),
    Case("segment:weights-need-pickle", f"segment {S} --model {{badpt}}", "model.pt", needs=("torch",)),
    Case("segment:missing-ct-chunk", f"segment {S} --model {{model}}", "missing", prep=drop_chunk("0"),
         needs=("torch",)),
    # ---- evaluate
    Case("evaluate:planes-text", f"evaluate {S} --model {{model}} --out {{tmp}}/e --planes a", "--planes"),
    Case("evaluate:planes-outside", f"evaluate {S} --model {{model}} --out {{tmp}}/e --planes 99", "99",
         needs=("torch",)),
    Case("evaluate:truth-missing", f"evaluate {S} --model {{model}} --out {{tmp}}/e --truth nope", "nope",
         needs=("torch",)),
    Case("evaluate:out-is-store", f"evaluate {S} --model {{model}} --out {S} --overwrite", "s.zarr"),
    Case("evaluate:out-user-folder", f"evaluate {S} --model {{model}} --out {{tmp}}/docs --overwrite",
         "not written by liberation", prep=user_folder()),
    Case("evaluate:corrupt-weights", f"evaluate {S} --model {{model}} --out {{tmp}}/e", "model.pt",
         needs=("torch",)),
    Case("evaluate:threads-zero", f"evaluate {S} --model {{model}} --out {{tmp}}/e --threads 0", "--threads"),
    # ---- pipeline
    Case("pipeline:size-zero", "pipeline {tmp}/p --size 0", "--size"),
    Case("pipeline:size-small", "pipeline {tmp}/p --size 8", "--size"),
    Case("pipeline:max-time-negative", "pipeline {tmp}/p --max-time -5", "--max-time"),
    Case("pipeline:threads-zero", "pipeline {tmp}/p --threads 0", "--threads"),
    Case("pipeline:preset-bad", "pipeline {tmp}/p --preset foo", "--preset"),
    Case("pipeline:out-user-folder", "pipeline {tmp}/docs --overwrite", "not written by liberation",
         prep=user_folder()),
    Case("pipeline:out-under-a-file", "pipeline {file}/p", "file.txt"),
    # ---- demo
    Case("demo:size-small", "demo --out {tmp}/d --size 4", "--size"),
    Case("demo:size-text", "demo --out {tmp}/d --size abc", "--size"),
    Case("demo:seed-negative", "demo --out {tmp}/d --seed -1", "--seed"),
    Case("demo:out-a-file", "demo --out {file}", "file.txt"),
    Case("demo:earlier-demo", "demo --out {tmp}/d", "already exists",
         prep=lambda t: _place_demo(t)),
    Case("demo:user-sample-overwrite", "demo --out {tmp}/d --overwrite", "not written by liberation",
         prep=chain(lambda t: (t / "d").mkdir(), user_folder("d/sample.zarr"))),
    Case("demo:user-report-overwrite", "demo --out {tmp}/d --overwrite --size 16", "not written by liberation",
         prep=chain(lambda t: (t / "d").mkdir(), user_folder("d/report"))),
    # ---- data
    Case("data:where-unknown", "data where nope", "nope"),
    Case("data:where-absent", "data where kirstein-li-slag", "not present"),
    Case("data:no-such-subcommand", "data frobnicate", "no such command"),
    # ---- deploy (belt)
    Case("deploy:train-synthetic-zero", "deploy train --synthetic 0 --out {tmp}/m", "--synthetic"),
    Case("deploy:train-size-odd", "deploy train --synthetic 4 --size 30 --out {tmp}/m", "--size"),
    Case("deploy:train-no-data", "deploy train --out {tmp}/m", "--data"),
    Case("deploy:train-val-fraction", "deploy train --synthetic 4 --val-fraction 1.5 --out {tmp}/m", "--val-fraction"),
    Case("deploy:train-out-user-folder", "deploy train --synthetic 4 --out {tmp}/docs --overwrite",
         "not written by liberation", prep=user_folder()),
    Case("deploy:evaluate-corrupt-onnx", "deploy evaluate {onnx} --synthetic 2 --size 32", "model.onnx",
         needs=("onnxruntime",)),
    Case("deploy:export-corrupt-weights", "deploy export {model} --out {tmp}/m.onnx", "model",
         needs=("torch", "onnx")),
    Case("deploy:benchmark-corrupt-onnx", "deploy benchmark {onnx} --size 32 --repeats 1 --warmup 0", "model.onnx",
         needs=("onnxruntime",)),
    Case("deploy:benchmark-size-zero", "deploy benchmark {onnx} --size 0", "--size"),
    Case("deploy:benchmark-repeats-zero", "deploy benchmark {onnx} --size 32 --repeats 0", "--repeats"),
    Case("deploy:segment-corrupt-onnx", "deploy segment {onnx} {images} --out {tmp}/s", "model.onnx",
         needs=("onnxruntime",)),
    Case("deploy:segment-threshold", "deploy segment {onnx} {images} --out {tmp}/s --threshold 2", "--threshold"),
    Case("deploy:segment-out-is-images", "deploy segment {onnx} {images} --out {images} --overwrite", "images"),
    Case("deploy:simulate-fragments-zero", "deploy simulate --out {tmp}/s --fragments 0", "--fragments"),
    Case("deploy:simulate-series-bad", "deploy simulate --out {tmp}/s --series foo", "foo"),
    Case("deploy:simulate-miou-big", "deploy simulate --out {tmp}/s --miou 2", "--miou"),
    Case("deploy:simulate-out-user-folder", "deploy simulate --out {tmp}/docs --overwrite",
         "not written by liberation", prep=user_folder()),
    Case("deploy:dual-train-widths", "deploy dual-energy train --synthetic 8 --widths a,b --out {tmp}/m", "--widths"),
    Case("deploy:dual-train-val-fraction", "deploy dual-energy train --synthetic 8 --val-fraction 1.5 --out {tmp}/m",
         "--val-fraction"),
    Case("deploy:dual-evaluate-pickle", "deploy dual-energy evaluate {badpt}/model.pt --synthetic 8", "model.pt",
         prep=lambda t: (t / "badpt" / "model_card.json").unlink(), needs=("torch",)),
    Case("deploy:dual-export-corrupt", "deploy dual-energy export {model} --out {tmp}/m.onnx", "model",
         needs=("torch",)),
    Case("deploy:fragments-ruler-bad", "deploy fragments {mask} --ruler 1,2 --out {tmp}/f", "--ruler"),
    Case("deploy:fragments-no-scale", "deploy fragments {mask} --out {tmp}/f", "--pixel-size"),
    Case("deploy:fragments-k-zero", "deploy fragments {mask} --pixel-size 1 --k 0 --out {tmp}/f", "--k"),
    Case("deploy:fragments-min-area", "deploy fragments {mask} --pixel-size 1 --min-area -1 --out {tmp}/f",
         "--min-area"),
    Case("deploy:fragments-corrupt-image", "deploy fragments {tmp}/bad.png --pixel-size 1 --out {tmp}/f", "bad.png",
         prep=write_file("bad.png", b"\x89PNG garbage")),
    Case("deploy:fragments-out-user-folder", "deploy fragments {mask} --pixel-size 1 --out {tmp}/docs --overwrite",
         "not written by liberation", prep=user_folder()),
]


def _place_demo(tmp: Path) -> None:
    """An earlier demo output in tmp/d (its sample store only)."""
    (tmp / "d").mkdir()
    shutil.copytree(tmp / "s.zarr", tmp / "d" / "sample.zarr")


CASES = {c.id: c for c in C}
assert len(CASES) == len(C), "duplicate case ids"
NEEDS_STORE = {"demo:earlier-demo"}


def _prepare(case: Case, lib: Path, tmp: Path) -> list[str]:
    for module in case.needs:
        pytest.importorskip(module)
    values = {"tmp": str(tmp)}
    for name in NAMES:
        if "{" + name + "}" in case.argv or (name == "store" and case.id in NEEDS_STORE):
            values[name] = str(_place(lib, tmp, name))
    if case.prep is not None:
        case.prep(tmp)
    return case.argv.format(**values).split()


def check(case: Case, rc: int, err: str, before: dict, after: dict) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, f"exit status {rc}, stderr:\n{err}"
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), f"expected one 'error:' line, got:\n{err}"
    assert "weights_only=False" not in err and "weights_only` set to `False" not in err, err
    if case.expect:
        assert case.expect.lower() in lines[0].lower(), f"{case.expect!r} not in {lines[0]!r}"
    changed = sorted(set(before) ^ set(after)) + sorted(k for k in before if k in after and before[k] != after[k])
    assert not changed, f"paths created, removed or changed: {changed[:10]}"


class CaseTimeout(BaseException):
    """A bad input that did not fail fast (it started real work); caught by nothing in liberation."""


CASE_TIMEOUT_S = int(os.environ.get("LIBERATION_BAD_INPUT_TIMEOUT", "60"))


def _alarm(signum, frame):
    raise CaseTimeout(f"still running after {CASE_TIMEOUT_S} s: the bad input was not refused before the work")


@pytest.mark.parametrize("case", C, ids=[c.id for c in C])
def test_bad_input(case: Case, lib, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIBERATION_DATA", str(tmp_path / "no-data"))
    argv = _prepare(case, lib, tmp_path)
    before = tree_state(tmp_path)
    capsys.readouterr()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_TIMEOUT_S)
    try:
        rc = main(["-q", *argv])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = capsys.readouterr().err
    check(case, rc, err, before, tree_state(tmp_path))


SUBPROCESS = ["convert:voxel-abc", "register:workers-zero", "report:corrupt-phase-chunk", "segment:overlap-big",
              "info:check-missing-chunk", "convert:ngff-bad", "segment:weights-need-pickle"]


@pytest.mark.slow
@pytest.mark.parametrize("case_id", SUBPROCESS)
def test_bad_input_subprocess(case_id, lib, tmp_path):
    case = CASES[case_id]
    argv = _prepare(case, lib, tmp_path)
    before = tree_state(tmp_path)
    env = dict(os.environ, LIBERATION_DATA=str(tmp_path / "no-data"))
    proc = subprocess.run([sys.executable, "-m", "liberation", "-q", *argv], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    check(case, proc.returncode, proc.stderr, before, tree_state(tmp_path))


def test_table_covers_every_command():
    commands = {c.command for c in C}
    assert {"convert", "info", "report", "labels-xrf", "labels-sem", "register", "train", "segment", "evaluate",
            "pipeline", "demo", "data", "deploy"} <= commands
    assert len(C) >= 100

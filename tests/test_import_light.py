import subprocess
import sys

HEAVY = ("torch", "monai", "onnx", "onnxruntime", "SimpleITK", "sklearn", "zarr", "dask", "matplotlib")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_liberation_is_light():
    loaded = _modules_after("import liberation")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_cli_help_does_not_import_torch():
    loaded = _modules_after("from liberation.cli import main\nmain(['--help'])")
    assert "torch" not in loaded and "monai" not in loaded


def test_store_and_synthetic_do_not_import_torch():
    loaded = _modules_after("import liberation.io, liberation.synthetic, liberation.stats")
    assert "torch" not in loaded and "monai" not in loaded


def test_subpackages_load_lazily():
    import liberation

    assert liberation.io.open_store is not None
    assert liberation.__version__.count(".") == 2

"""The one lazy-import mechanism of the package: ``lazy_loader`` with ``__init__.pyi`` stubs.

Every package of ``liberation`` (the top level, io, labels, registration, segmentation,
stats, report, synthetic, deploy, workflows) has the same two files:

``__init__.pyi``
    The list of public names, written as the imports a type checker reads
    (as scikit-image does)::

        from . import submodule                 # a submodule, reachable as an attribute
        from .module import name, OtherName     # a public name of that module

        __all__ = ["OtherName", "name"]

    Only ``from .module import ...`` and ``from . import ...`` lines are allowed (no
    ``import x``, no absolute imports, no ``as`` renames, no ``*``): lazy_loader parses the
    stub with ``ast``. ``__all__`` lists the public names; a submodule listed only in
    ``from . import ...`` is reachable but not in ``__all__``. mypy reads the stub instead of
    ``__init__.py``, so ``from liberation.synthetic import make_sampel`` is a type error.

``__init__.py``
    The docstring and two lines::

        from liberation._lazy import attach_stub

        __getattr__, __dir__, __all__ = attach_stub(__name__, __file__)

    Nothing is imported until a name is first used, so ``import liberation.segmentation``
    does not import torch; ``liberation.segmentation.train_model`` does.

Deprecated aliases (names that moved)
-------------------------------------
A moved public name keeps working for one release: it is *not* listed in the stub (so
mypy flags new uses), and ``__init__.py`` maps it to its new home as a string, so the
alias is not a static import (the import-rule test does not see an arrow)::

    __getattr__, __dir__, __all__ = attach_stub(
        __name__,
        __file__,
        deprecated={
            "make_belt_image": "liberation.deploy.belt.synthetic:make_belt_image",
            "dual_energy": "liberation.deploy.dual_energy.synthetic",   # a whole module
        },
    )

Each access emits a :class:`DeprecationWarning` naming the new location and returns the
new object (resolved by :func:`importlib.import_module`, not cached, so every use warns).
Deprecated names are not in ``__all__`` nor in ``dir()``. A package that already has a
``__getattr__`` can wrap it the same way: ``__getattr__ = with_deprecated(__getattr__,
{...}, package=__name__)``. A deprecated *submodule* path used with ``import a.b.c``
needs a small shim module file instead, because ``import`` does not go through
``__getattr__``.
"""

from __future__ import annotations

import ast
import importlib
import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import lazy_loader

__all__ = ["attach_stub", "stub_names", "with_deprecated"]


def stub_names(filename: str) -> tuple[list[str], list[str]]:
    """The names a package stub declares.

    Parameters
    ----------
    filename : str
        The package's ``__init__.py`` (or its ``__init__.pyi``).

    Returns
    -------
    public : list of str
        ``__all__`` of the stub when it has one, else every name it imports.
    submodules : list of str
        Names imported with ``from . import ...``.
    """
    stub = filename if filename.endswith(".pyi") else os.path.splitext(filename)[0] + ".pyi"
    with open(stub, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=stub)
    imported: list[str] = []
    submodules: list[str] = []
    declared: list[str] | None = None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            (imported if node.module else submodules).extend(names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
                declared = list(ast.literal_eval(node.value))
    public = declared if declared is not None else sorted(set(imported) | set(submodules))
    return public, submodules


def with_deprecated(
    getattr_: Callable[[str], Any], deprecated: Mapping[str, str], *, package: str
) -> Callable[[str], Any]:
    """Wrap a module ``__getattr__`` so that moved names still resolve, with a warning.

    Parameters
    ----------
    getattr_ : callable
        The package's ``__getattr__`` (from :func:`attach_stub` or hand-written).
    deprecated : mapping
        ``old_name -> "new.module:new_name"`` (an object) or ``"new.module"`` (a module).
    package : str
        The package's ``__name__``, for the warning text.

    Returns
    -------
    callable
        The new ``__getattr__``.
    """
    targets = dict(deprecated)

    def __getattr__(name: str) -> Any:
        target = targets.get(name)
        if target is None:
            return getattr_(name)
        module_name, _, attribute = target.partition(":")
        where = f"{module_name}.{attribute}" if attribute else module_name
        warnings.warn(
            f"{package}.{name} is deprecated and will be removed in the next release; use {where}",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(module_name)
        return getattr(module, attribute) if attribute else module

    return __getattr__


def attach_stub(
    package_name: str, filename: str, *, deprecated: Mapping[str, str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``lazy_loader.attach_stub`` with ``__all__`` taken from the stub and optional aliases.

    Parameters
    ----------
    package_name : str
        The package's ``__name__``.
    filename : str
        The package's ``__file__``; the stub is the ``.pyi`` beside it.
    deprecated : mapping, optional
        Moved names, see :func:`with_deprecated`.

    Returns
    -------
    __getattr__, __dir__, __all__
        To assign in the package's ``__init__.py``. ``__dir__`` lists ``__all__`` and the
        submodules of the stub; ``__all__`` is the stub's ``__all__``.
    """
    getattr_, _, _ = lazy_loader.attach_stub(package_name, filename)
    public, submodules = stub_names(filename)
    listing = sorted(set(public) | set(submodules))

    def __dir__() -> list[str]:
        return list(listing)

    if deprecated:
        getattr_ = with_deprecated(getattr_, deprecated, package=package_name)
    return getattr_, __dir__, list(public)

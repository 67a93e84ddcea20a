"""Find and call a pipeline factory given as `module:factory` or `path/to/file.py:factory`."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import sys
import sysconfig
import traceback
from pathlib import Path
from types import ModuleType

from towpath.errors import TowpathError, first_line
from towpath.pipeline.errors import FactoryError
from towpath.pipeline.job import Job
from towpath.pipeline.pipeline import Pipeline


def load_pipeline(target: str, params: dict[str, str] | None = None) -> Pipeline:
    """Import `target`, call `factory(**params)` and return the `Pipeline` (a `Job` is built).

    Raises:
        FactoryError: the module, the factory, a parameter or the return value is wrong.
    """
    module_part, sep, attr = target.rpartition(":")
    if not sep or not module_part or not attr:
        raise FactoryError(f"expected MODULE:FACTORY or path/to/file.py:FACTORY, got '{target}'")
    module = _import(module_part)
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else (f"; it has {', '.join(sorted(names))}" if names else "")
        raise FactoryError(f"cannot find factory '{attr}' in '{module_part}'{hint}")
    params = dict(params or {})
    try:
        inspect.signature(factory).bind(**params)
    except TypeError as exc:
        accepted = ", ".join(inspect.signature(factory).parameters) or "no parameters"
        raise FactoryError(f"factory '{target}' rejects parameters {sorted(params)}: {exc}; it takes: {accepted}") from None
    try:
        built = factory(**params)
    except TowpathError:
        raise
    except Exception as exc:
        raise FactoryError(f"factory '{target}' raised {_raised(exc)}") from exc
    if isinstance(built, Job):
        return built.pipeline()
    if not isinstance(built, Pipeline):
        raise FactoryError(f"factory '{target}' returned {type(built).__name__}; expected a Pipeline or a Job")
    return built


def _import(name: str) -> ModuleType:
    if name.endswith(".py") or "/" in name or "\\" in name:
        path = Path(name)
        if not path.is_file():
            siblings = [str(p) for p in path.parent.glob("*.py")] if path.parent.is_dir() else []
            close = difflib.get_close_matches(str(path), siblings, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise FactoryError(f"cannot import '{name}': no such file{hint}")
        mod_name = f"_towpath_factory_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        sys.path.insert(0, str(path.resolve().parent))
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(mod_name, None)
            raise FactoryError(f"cannot import '{name}': {_raised(exc)}") from exc
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name and not name.startswith(f"{exc.name}."):
            raise FactoryError(f"cannot import '{name}': {exc}") from exc
        local = [p.stem for p in Path.cwd().glob("*.py")] + [p.parent.name for p in Path.cwd().glob("*/__init__.py")]
        close = difflib.get_close_matches(name, local, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else " (looked in the current folder and sys.path)"
        raise FactoryError(f"cannot import '{name}': no such module{hint}") from None
    except Exception as exc:
        raise FactoryError(f"cannot import '{name}': {_raised(exc)}") from exc


def _raised(exc: BaseException) -> str:
    """`ValueError: boom (at jobs.py:12 in build)`: the exception and the deepest frame of the user's code.

    The user wants the line of their factory that failed, not towpath's or a
    library's internals (`towpath -v` prints the whole traceback).
    """
    libraries = [sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")]
    skip = tuple(str(Path(p).resolve()) for p in [str(Path(__file__).parents[1]), *libraries])
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not str(Path(f.filename).resolve()).startswith(skip) and not f.filename.startswith("<frozen")]
    where = f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}: {first_line(exc)}{where}"

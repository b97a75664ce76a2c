"""Components chosen by name from the config: each kind (backbones, methods, datasets, pseudo-label sources,
metric loggers) is one registry. The registry object lives in a module of its own inside its package, which the
built-in modules import to register their entries; the package's `__init__` lists the built-in modules in a plain
import statement. So the imports point one way: package -> built-in module -> registry module.

    # wilss/models/backbones/registry.py
    BACKBONES = Registry("backbone", __package__, "model.backbone", group="wilss.backbones")

    # wilss/models/backbones/__init__.py
    @BACKBONES.builtin
    def _builtin() -> None:
        from wilss.models.backbones import resnet, timm_resnet, timm_vit, wide_resnet  # noqa: F401 (they register)

    # wilss/models/backbones/resnet.py
    @BACKBONES.register("resnet18", "resnet50", "resnet101")
    def build_resnet(options): ...

Another installed package adds entries without touching this one, through the entry points of the registry's
`group` (`[project.entry-points."wilss.loggers"]` in its pyproject.toml): a point naming a module
(`csv = "my_pkg.csv_logger"`) is imported and registers itself; a point naming a callable
(`csv = "my_pkg.csv_logger:CsvLogger"`) is registered under the point's name.

The first lookup imports the built-in modules, then the entry points, once; an unknown name fails with the
option to change and the names that exist. A kind with a `contract` (a Protocol: what the rest of the kit calls
on what a builder returns) is built through `build`, which checks the built object against it, so a third-party
method or backbone that lacks a member fails when it is built, naming the member, not at the first iteration.
"""

from __future__ import annotations

import types
from importlib.metadata import EntryPoint, entry_points
from typing import Callable, Generic, TypeVar, get_type_hints

from wilss.errors import WilssError

Entry = TypeVar("Entry")


class Registry(Generic[Entry]):
    def __init__(self, kind: str, package: str, option: str, *, group: str, contract: type | None = None) -> None:
        self.kind, self.package, self.option, self.group = kind, package, option, group
        self.contract = contract
        self._builtin: Callable[[], object] = lambda: None
        self._entries: dict[str, Entry] = {}
        self._loaded = False

    def register(self, *names: str) -> Callable[[Entry], Entry]:
        def add(entry: Entry) -> Entry:
            for name in names:
                if name in self._entries and self._entries[name] is not entry:
                    raise ValueError(f"two {self.kind}s named {name!r} in {self.package}")
                self._entries[name] = entry
            return entry
        return add

    def builtin(self, load: Callable[[], object]) -> Callable[[], object]:
        """Decorates the package's function that imports its built-in modules, called on the first lookup. It is
        set from the package's `__init__`, not passed here: the modules it imports import this registry."""
        self._builtin = load
        return load

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # set first: a module being imported may look its registry up
        try:
            self._builtin()
            for point in entry_points(group=self.group):
                self._load_entry_point(point)
        except BaseException:
            self._loaded = False
            raise

    def _load_entry_point(self, point: EntryPoint) -> None:
        package = point.dist.name if point.dist is not None else "the package that declares it"
        where = f"the {self.group} entry point {point.name} = {point.value} of {package}"
        try:
            loaded = point.load()
        except Exception as error:  # the third-party code's own failure, whatever it is
            raise WilssError(f"{where} does not load ({type(error).__name__}: {error}); fix it or uninstall "
                             f"{package} (pip uninstall {package}).") from error
        if isinstance(loaded, types.ModuleType):
            return  # the module registered its entries when it was imported
        if not callable(loaded):
            raise WilssError(f"{where} names a {type(loaded).__name__}, not a module or a callable {self.kind} "
                             f"builder; point it at one (module or module:callable).")
        if point.name in self._entries and self._entries[point.name] is not loaded:
            raise WilssError(f"{where} is named like an existing {self.kind} ({point.name}); rename the entry "
                             f"point in {package}'s metadata.")
        self._entries[point.name] = loaded

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> Entry:
        self._load()
        if name not in self._entries:
            raise WilssError(f"{self.option}={name} is not a known {self.kind}; choose one of "
                             f"{', '.join(self.names())} (or add a module to {self.package}, or an entry point "
                             f"of the group {self.group} to your own package).")
        return self._entries[name]

    def build(self, name: str, *args):
        """The entry `name` called with `args`, checked against the kind's contract."""
        built = self.get(name)(*args)
        if self.contract is not None:
            missing = [member for member in contract_members(self.contract) if not hasattr(built, member)]
            if missing:
                raise WilssError(f"{self.option}={name} built a {type(built).__name__} without "
                                 f"{', '.join(missing)}, which every {self.kind} has ({self.contract.__name__} in "
                                 f"{self.contract.__module__}); add them to it.")
        return built


def contract_members(protocol: type) -> list[str]:
    """The attributes and methods a Protocol declares."""
    methods = [name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")]
    return sorted({*get_type_hints(protocol), *methods})

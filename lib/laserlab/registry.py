"""Named things of one kind — models, losses, datasets, sigma maps, ... — behind one small type.

A :class:`Registry` maps names to entries. An entry is either a factory (a class or function called with
keyword options: models, bottlenecks, losses, regularisers, callbacks, datasets, sigma maps) or a plain
record (distortions, backbone specs, pixel distances). Every registry answers the same questions the same
way::

    MODELS = Registry("model", {"autoencoder": Autoencoder})
    MODELS.register("hierarchical", HierarchicalAutoencoder)   # adding one is one line
    "autoencoder" in MODELS; MODELS.names()                    # sorted names
    MODELS["autoencoder"]                                      # the entry itself
    MODELS.build("autoencoder", bottleneck=..., latent_dim=64) # a factory's product

An unknown name is a ``ValueError`` of one form, ``"model name must be one of [...]; got 'vae'"``, and
:meth:`Registry.build` checks the options against the factory's signature first, so a misspelt option
is a ``ValueError`` listing the valid ones, not a ``TypeError`` from deep inside a constructor.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from .checks import check_choice

T = TypeVar("T")


def option_names(factory: Callable) -> tuple[list[str], list[str], bool]:
    """``(names, required, open)`` of ``factory``'s keyword-passable parameters: every name, the ones
    without a default, and whether it also takes ``**options`` (then any name is accepted)."""
    parameters = inspect.signature(factory).parameters.values()
    keywords = [p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    names = [p.name for p in keywords]
    required = [p.name for p in keywords if p.default is p.empty]
    return names, required, any(p.kind is p.VAR_KEYWORD for p in parameters)


def check_options(factory: Callable, options: Mapping[str, Any], what: str, *, provided: Iterable[str] = ()):
    """``options`` must be keyword options of ``factory`` and, with the names in ``provided`` (those the
    caller fills in itself), cover its required ones; ``ValueError`` naming ``what`` and the valid options."""
    names, required, open_ended = option_names(factory)
    provided = set(provided)
    valid = [name for name in names if name not in provided]
    unknown = sorted(set(options) - set(names) - provided)
    if unknown and not open_ended:
        raise ValueError(f"{what} has no option(s) {unknown}; valid options: {valid}")
    missing = [name for name in required if name not in options and name not in provided]
    if missing:
        raise ValueError(f"{what} needs option(s) {missing}; valid options: {valid}")


class Registry(Generic[T]):
    """Entries of one ``kind`` (a word for messages: ``"model"``, ``"loss"``, ...) by name.

    ``entries`` seeds it; :meth:`register` adds more (also as a decorator). Iterating yields the names in
    registration order; ``registry[name]`` is the entry, an unknown name a ``ValueError`` listing the
    known ones.
    """

    def __init__(self, kind: str, entries: Mapping[str, T] | None = None):
        self.kind = kind
        self._entries: dict[str, T] = {}
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(self, name: str, entry: T | None = None):
        """Add ``entry`` as ``name`` and return it; ``register(name)`` alone is a decorator."""
        if entry is None:
            return lambda decorated: self.register(name, decorated)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} name must be a non-empty str; got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} name {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def check(self, name, what: str | None = None) -> None:
        """``name`` must be registered: ``"<what> must be one of [...]; got 'x'"`` (``what`` defaults to
        ``"<kind> name"``; configs pass their key path, e.g. ``"data.name"``)."""
        check_choice(name, what or f"{self.kind} name", self.names())

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __getitem__(self, name: str) -> T:
        self.check(name)
        return self._entries[name]

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def check_options(
        self, name: str, options: Mapping[str, Any], *, provided: Iterable[str] = (), what: str | None = None
    ) -> None:
        """The factory ``name`` accepts ``options`` (see :func:`check_options`); ``what`` defaults to
        ``"<kind> 'name'"``."""
        check_options(self[name], options, what or f"{self.kind} {name!r}", provided=provided)

    def build(self, name: str, **options) -> Any:
        """``registry[name](**options)`` after :meth:`check_options`."""
        self.check_options(name, options)
        return self[name](**options)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"

"""Benchmark configuration: one frozen dataclass, read from YAML and validated with errors that name the key.

A configuration is declarative: *methods* × *datasets* × *conditions* → *metrics* (and, optionally, *speed*).
See ``configs/benchmarks/*.yaml`` for complete examples and docs/BENCHMARKS.md for the results they produce.

Relative paths (``output``, ``docs``, dataset ``root``/``list``, checkpoint files, folder ``path``) are resolved
against the current directory when the configuration is loaded; the shipped configurations are meant to be run
from the repository root (their data live in ``../shared``).

Conditions are the names of :mod:`dspfusion.degradations` (``clean``, ``vi_<T>``, ``ir_<T>``, the mixed
``LL_LC``, ``LL_SN``, ``Rain_SN``) or groups: ``vi`` (6 single VI), ``ir`` (3 single IR), ``single`` (the 9),
``mixed`` (the 3), ``degraded`` (12) and ``all`` (13, with clean).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import UserError

METHOD_TYPES = ("dspfusion", "baseline", "folder")
REFERENCES = ("clean", "input")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_TEMPLATE_FIELDS = ("dataset", "condition", "method")


@dataclass(frozen=True)
class DatasetSpec:
    """A folder with ``ir/`` + ``vi/`` (or ``Infrared/`` + ``Visible/``), optionally restricted by a list file."""

    name: str
    root: Path
    list: Path | None = None  # one file name (or stem) per line; '#' starts a comment


@dataclass(frozen=True)
class MethodSpec:
    """One row of the tables. ``type`` selects the keys that apply:

    * ``dspfusion``: ``checkpoint`` (preset name, official folder, .safetensors or .pt), ``device``, ``steps``,
      ``seed`` (SPDM start noise, and torch's seed before building an untrained preset), ``stretch``;
    * ``baseline``: ``fusion`` (a key of ``dspfusion.baselines.FUSION_METHODS``) and ``pre_enhance`` (apply the
      classical enhancer of each input's known degradation type first: the paper's "restore, then fuse");
    * ``folder``: ``path``, a folder of precomputed results (``{dataset}``, ``{condition}`` and ``{method}`` are
      substituted), files matched by stem. For a degraded condition the results must be made from this
      benchmark's degraded inputs (``dspfusion benchmark CONFIG --inputs-only`` writes them to
      ``<output>/inputs/<dataset>/<condition>/{ir,vi}/``), or the comparison is not on the same images.
    """

    name: str
    type: str
    checkpoint: str | None = None
    device: str = "cpu"
    steps: int | None = None
    seed: int = 0
    stretch: bool = False
    fusion: str | None = None
    pre_enhance: bool = False
    path: str | None = None
    note: str | None = None  # free text shown in the report

    def fingerprint(self) -> dict[str, Any]:
        """The options that determine the method's outputs (stored next to its cached results)."""
        keys = {"dspfusion": ("checkpoint", "steps", "seed", "stretch"), "baseline": ("fusion", "pre_enhance"),
                "folder": ("path",)}[self.type]
        return {"type": self.type, **{k: getattr(self, k) for k in keys}}


@dataclass(frozen=True)
class SpeedSpec:
    """Speed mode: ms per image (median of ``runs`` after ``warmup``), peak memory, parameters and FLOPs."""

    size: tuple[int, int] = (640, 480)  # width, height
    devices: tuple[str, ...] = ("cpu", "cuda")  # cuda is measured where available, reported as absent otherwise
    warmup: int = 2
    runs: int = 10
    threads: int | None = None  # CPU threads (torch, OpenMP, OpenCV); None = the libraries' default
    conditions: tuple[str, ...] = ("clean",)  # pre-enhancement baselines are timed under each (others: clean)


@dataclass(frozen=True)
class BenchmarkConfig:
    name: str
    output: Path
    datasets: tuple[DatasetSpec, ...] = ()
    conditions: tuple[str, ...] = ("clean",)
    methods: tuple[MethodSpec, ...] = ()
    metrics: tuple[str, ...] = ("EN", "MI", "VIF", "Qabf")
    description: str = ""
    reference: str = "clean"  # full-reference metrics against the clean sources ("clean") or the inputs ("input")
    convention: str = "tang"
    seed: int = 0  # base seed of the degradations
    limit: int | None = None  # at most this many images per dataset (quick runs)
    grid_images: int = 2  # image grids for the first K images of each dataset × condition
    docs: Path | None = None  # Markdown file whose "benchmark:<name>" section this benchmark regenerates
    docs_figures: tuple[str, ...] = ()  # metrics whose plots are copied to docs/figures/
    docs_grids: tuple[str, ...] = ()  # "DATASET/CONDITION" image grids copied to docs/figures/
    speed: SpeedSpec | None = None
    source: Path | None = None  # the YAML file it was read from
    added_max: bool = False  # the pixel-wise max baseline was added because the config lacked it

    @property
    def degraded(self) -> bool:
        return any(c != "clean" for c in self.conditions)

    def replace(self, **kw: Any) -> "BenchmarkConfig":
        return replace(self, **kw)


# ---------------------------------------------------------------------------------------------
# loading and validation


def expand_conditions(items: list[Any], where: str) -> tuple[str, ...]:
    """Condition names and group names → distinct condition names in the official order."""
    from ..degradations import CONDITIONS, IR_TYPES, MIXED, VI_TYPES

    groups = {
        "all": CONDITIONS,
        "degraded": CONDITIONS[1:],
        "single": tuple(f"vi_{t}" for t in VI_TYPES) + tuple(f"ir_{t}" for t in IR_TYPES),
        "vi": tuple(f"vi_{t}" for t in VI_TYPES),
        "ir": tuple(f"ir_{t}" for t in IR_TYPES),
        "mixed": tuple(MIXED),
    }
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise UserError(f"{where}: conditions must be names, got {item!r}")
        names = groups.get(item, (item,))
        for n in names:
            if n not in CONDITIONS:
                raise UserError(f"{where}: unknown condition {n!r}; valid: {', '.join(CONDITIONS)} "
                                f"or a group ({', '.join(groups)})")
            if n not in out:
                out.append(n)
    if not out:
        raise UserError(f"{where}: the list of conditions is empty")
    return tuple(out)


def _check_keys(data: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(allowed)}")


def _typed(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(value, bool) and kind in (int, float):  # YAML true is not a number
        raise UserError(f"{where}: {what} must be {kind.__name__}, got {value!r}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise UserError(f"{where}: {what} must be {names}, got {value!r}")
    return value


def _name(value: Any, where: str) -> str:
    _typed(value, str, where, "name")
    if not _NAME_RE.match(value):
        raise UserError(f"{where}: name {value!r} may only use letters, digits and _ . + - (it names folders)")
    return value


def _path(value: Any, base: Path, where: str, what: str) -> Path:
    _typed(value, str, where, what)
    p = Path(value).expanduser()
    return (p if p.is_absolute() else base / p).resolve()


def _dataset(item: Any, i: int, base: Path, src: str) -> DatasetSpec:
    where = f"{src}: datasets[{i}]"
    _typed(item, dict, where, "a dataset")
    _check_keys(item, ("name", "root", "list"), where)
    if "name" not in item or "root" not in item:
        raise UserError(f"{where}: needs 'name' and 'root' (a folder with ir/ and vi/)")
    lst = item.get("list")
    return DatasetSpec(_name(item["name"], where), _path(item["root"], base, where, "root"),
                       None if lst is None else _path(lst, base, where, "list"))


def _method(item: Any, i: int, base: Path, src: str) -> MethodSpec:
    from ..baselines import FUSION_METHODS

    where = f"{src}: methods[{i}]"
    _typed(item, dict, where, "a method")
    if "name" not in item or "type" not in item:
        raise UserError(f"{where}: needs 'name' and 'type' ({', '.join(METHOD_TYPES)})")
    name = _name(item["name"], where)
    where = f"{where} ({name})"
    kind = item["type"]
    if kind not in METHOD_TYPES:
        raise UserError(f"{where}: unknown type {kind!r}; choose {', '.join(METHOD_TYPES)}")
    common = ("name", "type", "note")
    allowed = {"dspfusion": common + ("checkpoint", "device", "steps", "seed", "stretch"),
               "baseline": common + ("fusion", "pre_enhance"),
               "folder": common + ("path",)}[kind]
    _check_keys(item, allowed, where)
    kw: dict[str, Any] = {"name": name, "type": kind}
    if item.get("note") is not None:
        kw["note"] = _typed(item["note"], str, where, "note")
    if kind == "dspfusion":
        ck = item.get("checkpoint")
        if ck is None:
            raise UserError(f"{where}: needs 'checkpoint' (a preset name such as lite or paper, an official "
                            "folder, a .safetensors or .pt file)")
        ck = str(_typed(ck, str, where, "checkpoint"))
        from ..config import PRESETS

        if ck not in PRESETS:  # a path: resolve it like every other path
            ck = str(_path(ck, base, where, "checkpoint"))
        kw["checkpoint"] = ck
        kw["device"] = _typed(item.get("device", "cpu"), str, where, "device")
        if item.get("steps") is not None:
            kw["steps"] = _typed(item["steps"], int, where, "steps")
            if kw["steps"] < 1:
                raise UserError(f"{where}: steps must be at least 1")
        kw["seed"] = _typed(item.get("seed", 0), int, where, "seed")
        kw["stretch"] = _typed(item.get("stretch", False), bool, where, "stretch")
    elif kind == "baseline":
        fusion = item.get("fusion")
        if fusion not in FUSION_METHODS:
            raise UserError(f"{where}: 'fusion' must be one of {', '.join(FUSION_METHODS)}, got {fusion!r}")
        kw["fusion"] = fusion
        kw["pre_enhance"] = _typed(item.get("pre_enhance", False), bool, where, "pre_enhance")
    else:
        path = item.get("path")
        if path is None:
            raise UserError(f"{where}: needs 'path', a folder of fused results, e.g. results/X/{{dataset}}/{{condition}}")
        path = _typed(path, str, where, "path")
        bad = [f for f in re.findall(r"{([^}]*)}", path) if f not in _TEMPLATE_FIELDS]
        if bad:
            raise UserError(f"{where}: path uses {{{bad[0]}}}; only {{dataset}}, {{condition}} and {{method}} "
                            "are substituted")
        kw["path"] = str(_path(path, base, where, "path"))
    return MethodSpec(**kw)


def _speed(item: Any, src: str) -> SpeedSpec:
    where = f"{src}: speed"
    _typed(item, dict, where, "a mapping")
    _check_keys(item, ("size", "devices", "warmup", "runs", "threads", "conditions"), where)
    kw: dict[str, Any] = {}
    if "size" in item:
        size = item["size"]
        if (not isinstance(size, list) or len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool)
                                                                   and s >= 8 for s in size)):
            raise UserError(f"{where}: size must be [width, height], two integers of at least 8, got {size!r}")
        kw["size"] = (size[0], size[1])
    if "devices" in item:
        devs = item["devices"]
        if not isinstance(devs, list) or not devs or any(d not in ("cpu", "cuda") for d in devs):
            raise UserError(f"{where}: devices must be a list of cpu and/or cuda, got {devs!r}")
        kw["devices"] = tuple(dict.fromkeys(devs))
    for key, lo in (("warmup", 0), ("runs", 1)):
        if key in item:
            v = _typed(item[key], int, where, key)
            if v < lo:
                raise UserError(f"{where}: {key} must be at least {lo}, got {v}")
            kw[key] = v
    if item.get("threads") is not None:
        kw["threads"] = _typed(item["threads"], int, where, "threads")
        if kw["threads"] < 1:
            raise UserError(f"{where}: threads must be at least 1 (or null for the libraries' default)")
    if "conditions" in item:
        kw["conditions"] = expand_conditions(_typed(item["conditions"], list, where, "conditions"), where)
    return SpeedSpec(**kw)


TOP_KEYS = ("name", "description", "output", "docs", "docs_figures", "docs_grids", "datasets", "conditions", "methods", "metrics",
            "reference", "convention", "seed", "limit", "grid_images", "speed")


def parse_config(data: Any, source: str = "<config>", base: Path | None = None) -> BenchmarkConfig:
    """Validate a mapping (the parsed YAML) → :class:`BenchmarkConfig`; relative paths are resolved against ``base``."""
    from ..metrics import resolve_metrics
    from ..metrics.conventions import CONVENTIONS

    base = Path.cwd() if base is None else base
    src = source
    if not isinstance(data, dict):
        raise UserError(f"{src}: expected a mapping of key: value at the top level")
    _check_keys(data, TOP_KEYS, src)
    for key in ("name", "output", "methods"):
        if key not in data:
            raise UserError(f"{src}: missing required key {key!r}")
    kw: dict[str, Any] = {"name": _name(data["name"], src), "source": Path(source) if source != "<config>" else None}
    kw["output"] = _path(data["output"], base, src, "output")
    if data.get("description") is not None:
        kw["description"] = _typed(data["description"], str, src, "description")
    datasets = _typed(data.get("datasets") or [], list, src, "datasets")
    kw["datasets"] = tuple(_dataset(d, i, base, src) for i, d in enumerate(datasets))
    kw["conditions"] = expand_conditions(_typed(data.get("conditions", ["clean"]), list, src, "conditions"),
                                         f"{src}: conditions")
    methods = _typed(data["methods"], list, src, "methods")
    if not methods:
        raise UserError(f"{src}: 'methods' is empty; list at least one method")
    ms = [_method(m, i, base, src) for i, m in enumerate(methods)]
    for what, names in (("method", [m.name for m in ms]), ("dataset", [d.name for d in kw["datasets"]])):
        dup = sorted({n.lower() for n in names if [x.lower() for x in names].count(n.lower()) > 1})
        if dup:
            raise UserError(f"{src}: {what} names must be unique (case-insensitive); repeated: {', '.join(dup)}")
    has_ours = any(m.type == "dspfusion" for m in ms)
    has_max = any(m.type == "baseline" and m.fusion == "max" and not m.pre_enhance for m in ms)
    if has_ours and not has_max:  # the pixel-wise max is always shown beside DSPFusion's numbers
        if any(m.name.lower() == "max" for m in ms):
            raise UserError(f"{src}: a method is named 'max' but is not the plain pixel-wise max baseline; rename it "
                            "(the harness adds {name: max, type: baseline, fusion: max} beside DSPFusion)")
        ms.append(MethodSpec(name="max", type="baseline", fusion="max",
                             note="added by the harness: the pixel-wise max is always shown beside DSPFusion"))
        kw["added_max"] = True
    kw["methods"] = tuple(ms)
    try:
        metrics = resolve_metrics(_typed(data.get("metrics", ["EN", "MI", "VIF", "Qabf"]), list, src, "metrics"))
    except ValueError as exc:
        raise UserError(f"{src}: metrics: {exc}") from None
    if not metrics and kw["datasets"]:
        raise UserError(f"{src}: 'metrics' is empty; list at least one metric (e.g. EN, MI, VIF, Qabf)")
    kw["metrics"] = tuple(metrics)
    ref = data.get("reference", "clean")
    if ref not in REFERENCES:
        raise UserError(f"{src}: reference must be 'clean' (full-reference metrics against the clean sources) or "
                        f"'input' (against the degraded inputs), got {ref!r}")
    kw["reference"] = ref
    conv = data.get("convention", "tang")
    if conv not in CONVENTIONS:
        raise UserError(f"{src}: convention must be one of {', '.join(CONVENTIONS)}, got {conv!r}")
    kw["convention"] = conv
    kw["seed"] = _typed(data.get("seed", 0), int, src, "seed")
    if data.get("limit") is not None:
        kw["limit"] = _typed(data["limit"], int, src, "limit")
        if kw["limit"] < 1:
            raise UserError(f"{src}: limit must be at least 1 (or null for every image)")
    kw["grid_images"] = _typed(data.get("grid_images", 2), int, src, "grid_images")
    if data.get("docs") is not None:
        kw["docs"] = _path(data["docs"], base, src, "docs")
    figs = tuple(_typed(data.get("docs_figures") or [], list, src, "docs_figures"))
    for f in figs:
        if f not in kw["metrics"]:
            raise UserError(f"{src}: docs_figures names {f!r}, which is not in metrics ({', '.join(kw['metrics'])})")
    kw["docs_figures"] = figs
    grids = tuple(_typed(data.get("docs_grids") or [], list, src, "docs_grids"))
    for g in grids:
        ds, _, cond = str(g).partition("/")
        if ds not in [d.name for d in kw["datasets"]] or cond not in kw["conditions"]:
            raise UserError(f"{src}: docs_grids entry {g!r} must be DATASET/CONDITION with a dataset and a condition "
                            "of this config")
    kw["docs_grids"] = grids
    if data.get("speed") is not None:
        kw["speed"] = _speed(data["speed"], src)
    if not kw["datasets"] and kw.get("speed") is None:
        raise UserError(f"{src}: nothing to do: give 'datasets' (quality benchmark) and/or 'speed'")
    return BenchmarkConfig(**kw)


def load_config(path: str | Path, base: Path | None = None) -> BenchmarkConfig:
    """Read and validate a benchmark YAML file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: benchmark config not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: invalid YAML ({exc})") from None
    return parse_config(data, str(path), base)


__all__ = ["BenchmarkConfig", "DatasetSpec", "MethodSpec", "SpeedSpec", "METHOD_TYPES", "expand_conditions",
           "load_config", "parse_config"]

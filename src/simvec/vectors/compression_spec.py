"""Compression specs: which reduction (Matryoshka truncation, PCA), codec and rescoring a compressed search uses.

`parse_compression` accepts "int8", "binary", "binary-itq", "pq48", "opq32", "t256-binary", ... or a dict, and
returns a validated, frozen `CompressionSpec`; the byte-size helpers say what a spec costs per vector.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from simvec.errors import CodecError
from simvec.vectors.codecs import CODECS, make_codec

RESCORE = ("none", "float32", "int8")
DEFAULT_RESCORE_MULTIPLIER = 10  # SciFact: binary top-100 rescored by int8 loses nothing measurable vs float32
SPEC_HELP = (
    'valid compression: "float32", "float16", "int8", "binary", "binary-pca", "binary-itq", "pq<m>" or "opq<m>" '
    '(m bytes per vector, e.g. "pq48"), optionally with "t<dim>-" in front for Matryoshka truncation ("t256-binary"), '
    'or a dict {"codec": ..., "truncate_dim": ..., "pca_dim": ..., "whiten": ..., "rotation": ..., "pq_m": ..., '
    '"rescore": "none"|"float32"|"int8", "rescore_multiplier": ...}'
)


@dataclass(frozen=True)
class CompressionSpec:
    """A compression pipeline: optional Matryoshka truncation and PCA, a codec, and how candidates are rescored."""

    codec: str = "float32"
    rotation: str = "none"
    pq_m: int | None = None
    truncate_dim: int | None = None
    pca_dim: int | None = None
    whiten: bool = False
    rescore: str = "none"
    rescore_multiplier: int = DEFAULT_RESCORE_MULTIPLIER

    @property
    def name(self) -> str:
        """A short, unique label: "t256-binary-itq+int8x10", "pq48+float32x10", "int8"."""
        parts = []
        if self.truncate_dim:
            parts.append(f"t{self.truncate_dim}")
        if self.pca_dim:
            parts.append(f"{'w' if self.whiten else ''}pca{self.pca_dim}")
        if self.codec == "pq":
            parts.append(f"{'opq' if self.rotation == 'opq' else 'pq'}{self.pq_m}")
        else:
            parts.append(self.codec + (f"-{self.rotation}" if self.rotation != "none" else ""))
        name = "-".join(parts)
        return name + (f"+{self.rescore}x{self.rescore_multiplier}" if self.rescore != "none" else "")

    @property
    def is_identity(self) -> bool:
        """True when this spec is plain float32 search (the collection's uncompressed behaviour)."""
        return self.codec == "float32" and not self.truncate_dim and not self.pca_dim and self.rescore == "none"

    def reduced_dim(self, dimension: int) -> int:
        return self.pca_dim or self.truncate_dim or dimension

    def as_dict(self) -> dict:
        return asdict(self)


_SHORT = re.compile(
    r"^(?:t(?P<t>\d+)-)?(?:(?P<w>w?)pca(?P<p>\d+)-)?(?P<codec>float32|float16|int8|binary(?:-(?P<rot>pca|itq))?|(?P<o>o?)pq(?P<m>\d+))$"
)


def parse_compression(
    spec: str | dict | CompressionSpec | None,
    *,
    dimension: int,
    rescore: str | None = None,
    rescore_multiplier: int | None = None,
) -> CompressionSpec:
    """A validated `CompressionSpec` from a short name, a dict or a spec; `rescore*` override the spec's own.

    Binary and PQ codes rescore with int8 vectors by default; float32/float16/int8 codes do not rescore.
    """
    if spec is None:
        spec = "float32"
    if isinstance(spec, CompressionSpec):
        fields = spec.as_dict()
    elif isinstance(spec, str):
        match = _SHORT.match(spec.strip().lower())
        if not match:
            raise CodecError(f"unknown compression {spec!r}; {SPEC_HELP}")
        codec = match["codec"]
        fields = {
            "truncate_dim": int(match["t"]) if match["t"] else None,
            "pca_dim": int(match["p"]) if match["p"] else None,
            "whiten": bool(match["w"]),
        }
        if match["m"]:
            fields.update(codec="pq", pq_m=int(match["m"]), rotation="opq" if match["o"] else "none")
        elif codec.startswith("binary"):
            fields.update(codec="binary", rotation=match["rot"] or "none")
        else:
            fields.update(codec=codec)
    elif isinstance(spec, dict):
        unknown = sorted(set(spec) - set(CompressionSpec.__dataclass_fields__))
        if unknown:
            raise CodecError(f"unknown compression key(s) {', '.join(map(repr, unknown))}; {SPEC_HELP}")
        fields = dict(spec)
        if isinstance(fields.get("codec"), str) and fields["codec"] != "pq" and _SHORT.match(fields["codec"]):
            nested = parse_compression(fields.pop("codec"), dimension=dimension)  # {"codec": "pq48"} or "binary-itq"
            fields = {**{k: v for k, v in nested.as_dict().items() if k in ("codec", "rotation", "pq_m")}, **fields}
    else:
        raise CodecError(f"compression must be a str or a dict, got {type(spec).__name__}; {SPEC_HELP}")
    if "rescore" not in fields or fields["rescore"] is None:
        fields["rescore"] = "int8" if fields.get("codec") in ("binary", "pq") else "none"
    if rescore is not None:
        fields["rescore"] = rescore
    if rescore_multiplier is not None:
        fields["rescore_multiplier"] = rescore_multiplier
    fields.setdefault("rescore_multiplier", DEFAULT_RESCORE_MULTIPLIER)
    fields["rotation"] = fields.get("rotation") or "none"
    return validate_spec(CompressionSpec(**fields), dimension)


def validate_spec(spec: CompressionSpec, dimension: int) -> CompressionSpec:
    """`spec` if its fields are consistent with each other and with `dimension`, else a CodecError saying why."""
    if spec.codec not in CODECS:
        raise CodecError(f"unknown codec {spec.codec!r}; valid codecs: {', '.join(CODECS)}. {SPEC_HELP}")
    if spec.rescore not in RESCORE:
        raise CodecError(f"unknown rescore {spec.rescore!r}; valid: {', '.join(RESCORE)}")
    for name in ("truncate_dim", "pca_dim", "rescore_multiplier"):
        value = getattr(spec, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise CodecError(f"{name} must be a positive integer, got {value!r}")
    if spec.truncate_dim and spec.truncate_dim > dimension:
        raise CodecError(f"truncate_dim {spec.truncate_dim} exceeds the dimension {dimension}")
    if spec.pca_dim and spec.pca_dim > (spec.truncate_dim or dimension):
        raise CodecError(f"pca_dim {spec.pca_dim} exceeds the dimension it reduces ({spec.truncate_dim or dimension})")
    if not isinstance(spec.whiten, bool) or (spec.whiten and not spec.pca_dim):
        raise CodecError("whiten must be a bool and needs pca_dim (whitening is a scaled PCA)")
    if spec.codec != "pq" and spec.pq_m is not None:
        raise CodecError(f"pq_m applies to the pq codec, not {spec.codec}")
    make_codec(spec.codec, spec.reduced_dim(dimension), rotation=spec.rotation, pq_m=spec.pq_m)  # checks the rest
    return spec


def ram_bytes_per_vector(spec: CompressionSpec | None, dimension: int) -> int:
    """Bytes per vector the first stage keeps in RAM (float32 vectors when `spec` is None)."""
    if spec is None:
        return 4 * dimension
    return make_codec(spec.codec, spec.reduced_dim(dimension), rotation=spec.rotation, pq_m=spec.pq_m).bytes_per_vector


def disk_bytes_per_vector(spec: CompressionSpec | None, dimension: int) -> int:
    """Bytes per vector of the memory-mapped rescoring file (0 without a second stage)."""
    if spec is None or spec.rescore == "none":
        return 0
    return dimension * (4 if spec.rescore == "float32" else 1)

"""Plain-text tables for notebooks and benchmarks: ``print(table(rows, header))``."""

from __future__ import annotations


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table: a header line, a rule, then one line per row; the first column left-aligned,
    the others right-aligned, each as wide as its widest cell. Cells are formatted with ``str``."""
    for index, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(
                f"rows[{index}] must have one cell per header column ({len(header)}); got {len(row)}"
            )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(cells))

    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)])

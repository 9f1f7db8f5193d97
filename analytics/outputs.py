"""The names of the files an analysis writes (importable without pandas or Pillow)."""

from __future__ import annotations

TIES_CSV = "ties.csv"
ROLES_CSV = "roles.csv"
DIMENSIONS_CSV = "dimensions.csv"
RATES_CSV = "response_rates.csv"
TRENDS_CSV = "trends.csv"
HEATMAP_PNG = "heatmap.png"
NETWORK_PNG = "network.png"
DIMENSIONS_PNG = "dimensions.png"
TREND_PNG = "trend.png"
REPORT_XLSX = "report.xlsx"
REPORT_MD = "report.md"
EXTRACT_JSON = "extract.json"
KNOWN_OUTPUTS: tuple[str, ...] = (
    TIES_CSV,
    ROLES_CSV,
    DIMENSIONS_CSV,
    RATES_CSV,
    TRENDS_CSV,
    HEATMAP_PNG,
    NETWORK_PNG,
    DIMENSIONS_PNG,
    TREND_PNG,
    REPORT_XLSX,
    REPORT_MD,
    EXTRACT_JSON,
)

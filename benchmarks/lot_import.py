"""Benchmark: import a 1,000-row lab spreadsheet (targets: preview <= 10 s, import <= 20 s), then import it again
(nothing changes).

The import's CPU time (this process) is printed beside the wall time: on a shared machine it varies
far less than the wall time.

Run: .venv/bin/python -m benchmarks.lot_import [ROWS]   (BENCH_PROFILE=1: cProfile of each import, top 40)
(on SQLite in a temp dir; set BENCH_DATABASE_URL to an empty PostgreSQL database to measure on PostgreSQL)
"""

from __future__ import annotations

import cProfile
import datetime as dt
import io
import os
import pstats
import re
import sys
import time

from openpyxl import Workbook
from sqlalchemy import func, select

from benchmarks.common import database_name, demo_instance, machine


def workbook(rows: int) -> bytes:
    from marketplace.lots import imports

    today = dt.date.today()  # noqa: DTZ011
    header = [k for k in imports.COLUMNS if k != "cooperative"]
    base = {
        "lab_name": "Demo Fibre Testing Laboratory", "test_method": "IWTO-8",
        "tested_on": (today - dt.timedelta(days=30)).strftime("%d.%m.%Y"), "season": "2025", "soum": "Jinst",
        "herder_households": "21", "colour": "light_grey", "sorting": "unsorted", "state": "greasy",
        "diameter_cv_pct": "21.6", "fibres_over_30um_pct": "1.0", "mean_length_mm": "36.6",
        "hair_content_pct": "40.9", "dehairing_yield_pct": "42.4", "vegetable_matter_pct": "1.76",
        "moisture_regain_pct": "15.1", "net_kg": "640", "bags": "14", "min_order_kg": "100", "sample_size_g": "100",
        "currency": "EUR", "price": "45.00", "premium": "4.00", "price_basis": "greasy", "incoterm": "CPT",
        "incoterm_place": "Milan Malpensa", "deposit_pct": "30",
        "price_valid_until": (today + dt.timedelta(days=180)).isoformat(), "premium_to_herders_pct": "60",
        "certificate": "SC-2025-BKH-001",
    }
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Lots")
    sheet.append([f"{k} [{k}]" for k in header])
    for i in range(rows):
        row = {**base, "lab_report_number": f"BENCH-{i:05d}", "mean_diameter_um": f"{15 + (i % 30) / 10:.1f} µm"}
        sheet.append([row.get(k, "") for k in header])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def main(rows: int = 1000) -> None:
    with demo_instance() as env:
        os.environ.update(env)
        from marketplace import create_app
        from marketplace.extensions import db
        from marketplace.lots.models import Lot

        app = create_app()
        client = app.test_client()
        page = client.get("/signin").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        client.post("/signin", data={"email": "coop@demo.example", "password": "demo-coop-2026", "csrf_token": token})
        data = workbook(rows)
        print(f"Lot import of {rows} rows ({len(data) // 1024} KB XLSX) on {machine()}, {database_name()}")
        for attempt in ("first import", "same file again"):
            page = client.get("/lots/import").get_data(as_text=True)
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            start = time.perf_counter()
            preview = client.post("/lots/import", data={"csrf_token": token, "file": (io.BytesIO(data), "lab.xlsx")},
                                  content_type="multipart/form-data")
            checked = time.perf_counter() - start
            body = preview.get_data(as_text=True)
            rows_token = re.search(r'name="rows" value="([^"]+)"', body).group(1)  # type: ignore[union-attr]
            summary = re.findall(r"<li>((?:New lots|Already imported|Rows with errors)[^<]*)</li>", body)
            start, cpu = time.perf_counter(), time.process_time()
            profiler = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
            if profiler:
                profiler.enable()
            done = client.post("/lots/import/confirm", data={"csrf_token": token, "rows": rows_token,
                                                             "action": "import"})
            imported, imported_cpu = time.perf_counter() - start, time.process_time() - cpu
            if profiler:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
                if os.environ["BENCH_PROFILE"] != "1":
                    profiler.dump_stats(f"{os.environ['BENCH_PROFILE']}.{attempt.split()[0]}")
            with app.app_context():
                count = db.session.scalar(select(func.count()).select_from(Lot).where(
                    Lot.lab_report_number.like("BENCH-%")))
            print(f"  {attempt}: preview {checked:.1f} s (target <= 10 s) [{'; '.join(summary)}], "
                  f"import {imported:.1f} s (CPU {imported_cpu:.1f} s; target <= 20 s), status {done.status_code}, "
                  f"lots in the database: {count}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)

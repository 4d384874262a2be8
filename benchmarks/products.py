"""Benchmark: the product catalogue, one product page, and the image pipeline.

Run: .venv/bin/python benchmarks/products.py  (a temporary SQLite database with the demo content)
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path

from flask_migrate import upgrade
from PIL import Image

from marketplace import create_app
from marketplace.demo.loader import load_all
from marketplace.extensions import db
from marketplace.products import images


def _timed(func, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"ENV": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite3",
                          "IMAGE_STORAGE_PATH": f"{tmp}/images", "SEARCH_INDEX_PATH": f"{tmp}/search",
                          "PASSPORT_SIGNING_KEY": f"{tmp}/signing-key.jwk"})
        with app.app_context():
            upgrade()
            start = time.perf_counter()
            load_all(Path(app.config["CONTENT_DIR"]))
            db.session.commit()
            print(f"demo load (18 products, 36 pictures): {time.perf_counter() - start:.1f} s")
        client = app.test_client()
        for label, path in (("GET /products", "/products"), ("GET /products?recycled=y", "/products?recycled=y"),
                            ("GET /products/1", "/products/1")):
            if client.get(path).status_code != 200:
                raise SystemExit(f"{path} did not answer 200")
            median, p95 = _timed(lambda path=path: client.get(path), 100)
            print(f"{label}: median {median:.1f} ms, p95 {p95:.1f} ms (100 requests)")
        out = io.BytesIO()
        Image.effect_noise((4000, 3000), 40).convert("RGB").save(out, "JPEG", quality=90)
        photo = out.getvalue()
        median, p95 = _timed(lambda: images.process(photo), 5)
        print(f"image pipeline, 12 MP JPEG → original + 6 variants: median {median:.0f} ms, p95 {p95:.0f} ms (5 runs)")


if __name__ == "__main__":
    main()

"""The app as served in the benchmarks, plus a trivial route to compare against."""

from marketplace import create_app
from marketplace.access import public

app = create_app()


@app.get("/_bench/trivial")
@public
def trivial() -> str:
    return "ok"
